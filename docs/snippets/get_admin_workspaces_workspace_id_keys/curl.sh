#!/bin/sh
# List Keys (GET /api/v1/admin/workspaces/{workspace_id}/keys)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID/keys" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY"

#!/bin/sh
# Show Workspace (GET /api/v1/admin/workspaces/{workspace_id})
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY"

#!/bin/sh
# Update Workspace (PATCH /api/v1/admin/workspaces/{workspace_id})
curl --fail-with-body -sS -X PATCH "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"name": "Acme research lab", "rpm_max": 600}'

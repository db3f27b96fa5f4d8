#!/bin/sh
# Grant Credit (POST /api/v1/admin/workspaces/{workspace_id}/grants)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID/grants" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"tokens": 5000, "reason": "goodwill"}'

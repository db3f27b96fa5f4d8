#!/bin/sh
# Admin Topup (POST /api/v1/admin/workspaces/{workspace_id}/topups)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID/topups" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Idempotency-Key: example-post_admin_workspaces_workspace_id_topups" \
  -H "Content-Type: application/json" \
  -d '{"amount_paisa": 25050, "method": "card"}'

#!/bin/sh
# Admin Adjustment (POST /api/v1/admin/workspaces/{workspace_id}/adjustments)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID/adjustments" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Idempotency-Key: example-post_admin_workspaces_workspace_id_adjustments" \
  -H "Content-Type: application/json" \
  -d '{"tokens": -500, "reason": "correction"}'

#!/bin/sh
# Admin Workspace Rate (POST /api/v1/admin/workspaces/{workspace_id}/rates)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID/rates" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"tokens_per_bdt": "600", "effective_at": "2099-01-01T00:00:00Z", "reason": "volume discount"}'

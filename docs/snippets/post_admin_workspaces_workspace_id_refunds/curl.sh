#!/bin/sh
# Admin Refund (POST /api/v1/admin/workspaces/{workspace_id}/refunds)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID/refunds" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"job_id": "'"$LUNTREX_JOB_ID"'", "reason": "bad answer"}'

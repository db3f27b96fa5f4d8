#!/bin/sh
# Cancel Batch (POST /api/v1/admin/batches/{batch_id}/cancel)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/batches/$LUNTREX_BATCH_ID/cancel" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY"

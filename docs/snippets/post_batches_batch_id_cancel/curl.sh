#!/bin/sh
# Cancel Batch (POST /api/v1/batches/{batch_id}/cancel)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/batches/$LUNTREX_BATCH_ID/cancel" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

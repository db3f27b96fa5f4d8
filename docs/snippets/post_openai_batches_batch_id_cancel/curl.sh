#!/bin/sh
# Cancel Batch (POST /api/v1/openai/batches/{batch_id}/cancel)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/openai/batches/$LUNTREX_BATCH_ID/cancel" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

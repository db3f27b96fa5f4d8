#!/bin/sh
# Get Batch (GET /api/v1/batches/{batch_id})
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/batches/$LUNTREX_BATCH_ID" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

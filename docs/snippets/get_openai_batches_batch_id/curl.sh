#!/bin/sh
# Retrieve Batch (GET /api/v1/openai/batches/{batch_id})
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/openai/batches/$LUNTREX_BATCH_ID" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

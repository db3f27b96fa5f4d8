#!/bin/sh
# Create Batch (POST /api/v1/batches)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/batches" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"requests": [null]}'

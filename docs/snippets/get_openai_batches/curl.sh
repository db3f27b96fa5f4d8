#!/bin/sh
# List Batches (GET /api/v1/openai/batches)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/openai/batches" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# List Batches (GET /api/v1/batches)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/batches" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

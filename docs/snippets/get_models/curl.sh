#!/bin/sh
# List Models (GET /api/v1/models)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/models" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# Get Usage (GET /api/v1/usage)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/usage" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# Get Balance (GET /api/v1/balance)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/balance" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# List Keys (GET /api/v1/keys)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/keys" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

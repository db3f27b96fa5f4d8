#!/bin/sh
# Get Usage By Day (GET /api/v1/ledger/usage)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/ledger/usage" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# Get Statement (GET /api/v1/ledger/statement)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/ledger/statement" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# Get Entries (GET /api/v1/ledger/entries)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/ledger/entries" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

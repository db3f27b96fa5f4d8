#!/bin/sh
# Get Topups (GET /api/v1/topups)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/topups" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

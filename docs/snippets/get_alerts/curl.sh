#!/bin/sh
# Get Alerts (GET /api/v1/alerts)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/alerts" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# List Webhooks (GET /api/v1/webhooks)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/webhooks" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# Get Webhook (GET /api/v1/webhooks/{endpoint_id})
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/webhooks/$LUNTREX_ENDPOINT_ID" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# Update Webhook (PATCH /api/v1/webhooks/{endpoint_id})
curl --fail-with-body -sS -X PATCH "$LUNTREX_BASE_URL/webhooks/$LUNTREX_ENDPOINT_ID" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"description": "production receiver (v2)"}'

#!/bin/sh
# Put Webhook (PUT /api/v1/billing/webhook)
curl --fail-with-body -sS -X PUT "$LUNTREX_BASE_URL/billing/webhook" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"url": "'"$LUNTREX_WEBHOOK_URL"'"}'

#!/bin/sh
# Delete Webhook (DELETE /api/v1/billing/webhook)
curl --fail-with-body -sS -X DELETE "$LUNTREX_BASE_URL/billing/webhook" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

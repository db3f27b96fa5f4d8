#!/bin/sh
# Delete Webhook (DELETE /api/v1/webhooks/{endpoint_id})
curl --fail-with-body -sS -X DELETE "$LUNTREX_BASE_URL/webhooks/$LUNTREX_ENDPOINT_ID" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

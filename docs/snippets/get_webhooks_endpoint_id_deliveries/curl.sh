#!/bin/sh
# List Deliveries (GET /api/v1/webhooks/{endpoint_id}/deliveries)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/webhooks/$LUNTREX_ENDPOINT_ID/deliveries" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

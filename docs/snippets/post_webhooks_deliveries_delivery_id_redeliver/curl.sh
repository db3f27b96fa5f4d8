#!/bin/sh
# Redeliver (POST /api/v1/webhooks/deliveries/{delivery_id}/redeliver)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/webhooks/deliveries/$LUNTREX_DELIVERY_ID/redeliver" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

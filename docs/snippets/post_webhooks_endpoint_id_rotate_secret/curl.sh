#!/bin/sh
# Rotate Webhook Secret (POST /api/v1/webhooks/{endpoint_id}/rotate-secret)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/webhooks/$LUNTREX_ENDPOINT_ID/rotate-secret" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"grace_s": 3600}'

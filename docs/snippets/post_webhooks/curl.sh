#!/bin/sh
# Create Webhook (POST /api/v1/webhooks)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/webhooks" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"url": "'"$LUNTREX_WEBHOOK_URL"'", "event_types": ["job.completed", "job.failed"], "description": "production receiver"}'

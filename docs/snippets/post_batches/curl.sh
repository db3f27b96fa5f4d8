#!/bin/sh
# Create Batch (POST /api/v1/batches)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/batches" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"requests": [{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "Hi"}]}}], "completion_window": "24h"}'

#!/bin/sh
# Create Completion (POST /api/v1/chat/completions)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/chat/completions" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Idempotency-Key: example-post_chat_completions" \
  -H "Content-Type: application/json" \
  -d '{"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "Write a short rhyming poem about the ocean."}], "max_tokens": 512}'

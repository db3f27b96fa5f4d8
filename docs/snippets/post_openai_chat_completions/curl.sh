#!/bin/sh
# Create Chat Completion (POST /api/v1/openai/chat/completions)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/openai/chat/completions" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Idempotency-Key: example-post_openai_chat_completions" \
  -H "Content-Type: application/json" \
  -d '{"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "Say hello in five words."}], "max_tokens": 32}'

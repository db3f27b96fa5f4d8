#!/bin/sh
# Create File (POST /api/v1/openai/files)
# The batch file, one request a line, is piped in.
printf '%s\n' '{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "Name a colour."}], "max_tokens": 16}}' '{"custom_id": "request-2", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "Name a river."}], "max_tokens": 16}}' | \
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/openai/files" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -F 'purpose=batch' \
  -F "file=@-;filename=batch.jsonl;type=application/jsonl"

#!/bin/sh
# Create Batch (POST /api/v1/openai/batches)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/openai/batches" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"input_file_id": "'"$LUNTREX_FILE_ID"'", "endpoint": "/v1/chat/completions", "completion_window": "24h", "metadata": {"project": "docs"}}'

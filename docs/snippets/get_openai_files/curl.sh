#!/bin/sh
# List Files (GET /api/v1/openai/files)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/openai/files" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

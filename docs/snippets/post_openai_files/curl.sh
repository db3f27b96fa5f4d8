#!/bin/sh
# Create File (POST /api/v1/openai/files)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/openai/files" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# Retrieve File (GET /api/v1/openai/files/{file_id})
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/openai/files/$LUNTREX_FILE_ID" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

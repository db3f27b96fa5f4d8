#!/bin/sh
# File Content (GET /api/v1/openai/files/{file_id}/content)
# The answer is JSON lines: one JSON object a line.
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/openai/files/$LUNTREX_FILE_ID/content" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

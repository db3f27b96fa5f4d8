#!/bin/sh
# Delete File (DELETE /api/v1/openai/files/{file_id})
curl --fail-with-body -sS -X DELETE "$LUNTREX_BASE_URL/openai/files/$LUNTREX_FILE_ID" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# Revoke Key (DELETE /api/v1/keys/{key_id})
curl --fail-with-body -sS -X DELETE "$LUNTREX_BASE_URL/keys/$LUNTREX_KEY_ID" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

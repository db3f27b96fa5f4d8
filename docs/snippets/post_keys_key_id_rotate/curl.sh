#!/bin/sh
# Rotate Key (POST /api/v1/keys/{key_id}/rotate)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/keys/$LUNTREX_KEY_ID/rotate" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"grace_s": 600}'

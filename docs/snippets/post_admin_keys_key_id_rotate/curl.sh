#!/bin/sh
# Rotate Key (POST /api/v1/admin/keys/{key_id}/rotate)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/keys/$LUNTREX_KEY_ID/rotate" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"grace_s": 60}'

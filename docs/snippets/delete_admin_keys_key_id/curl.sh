#!/bin/sh
# Revoke Key (DELETE /api/v1/admin/keys/{key_id})
curl --fail-with-body -sS -X DELETE "$LUNTREX_BASE_URL/admin/keys/$LUNTREX_KEY_ID" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY"

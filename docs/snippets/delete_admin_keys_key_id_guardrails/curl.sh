#!/bin/sh
# Clear Key Guardrails (DELETE /api/v1/admin/keys/{key_id}/guardrails)
curl --fail-with-body -sS -X DELETE "$LUNTREX_BASE_URL/admin/keys/$LUNTREX_KEY_ID/guardrails" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY"

#!/bin/sh
# Show Key Guardrails (GET /api/v1/admin/keys/{key_id}/guardrails)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/admin/keys/$LUNTREX_KEY_ID/guardrails" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY"

#!/bin/sh
# Show Key Guardrails (GET /api/v1/keys/{key_id}/guardrails)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/keys/$LUNTREX_KEY_ID/guardrails" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

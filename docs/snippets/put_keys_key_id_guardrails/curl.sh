#!/bin/sh
# Set Key Guardrails (PUT /api/v1/keys/{key_id}/guardrails)
curl --fail-with-body -sS -X PUT "$LUNTREX_BASE_URL/keys/$LUNTREX_KEY_ID/guardrails" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"max_prompt_chars": 8000, "deny": [{"name": "api-secrets", "pattern": "sk-[A-Za-z0-9]{20,}"}, {"name": "tickets", "keywords": ["ACME"]}], "redact": ["email"]}'

#!/bin/sh
# Set Key Guardrails (PUT /api/v1/admin/keys/{key_id}/guardrails)
curl --fail-with-body -sS -X PUT "$LUNTREX_BASE_URL/admin/keys/$LUNTREX_KEY_ID/guardrails" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"allowed_models": ["openai/gpt-4.1-mini"], "deny": [{"name": "codenames", "keywords": ["Project Falcon"]}]}'

#!/bin/sh
# Set Guardrails (PUT /api/v1/guardrails)
curl --fail-with-body -sS -X PUT "$LUNTREX_BASE_URL/guardrails" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"allowed_models": ["openai/gpt-4.1-mini", "gemini-2.5-flash"], "max_prompt_chars": 50000, "deny": [{"name": "codenames", "keywords": ["Project Falcon", "Bluebird"]}, {"name": "us-ssn", "pattern": "\\b\\d{3}-\\d{2}-\\d{4}\\b"}], "redact": ["email", "phone", "card"]}'

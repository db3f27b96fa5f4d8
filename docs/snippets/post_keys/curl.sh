#!/bin/sh
# Create Key (POST /api/v1/keys)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/keys" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"name": "ci", "scopes": ["inference"], "rpm_max": 60, "guardrails": {"deny": [{"name": "api-secrets", "pattern": "sk-[A-Za-z0-9]{20,}"}], "redact": ["email"]}}'

#!/bin/sh
# Show Guardrails (GET /api/v1/guardrails)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/guardrails" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

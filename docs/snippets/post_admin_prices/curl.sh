#!/bin/sh
# Admin Price (POST /api/v1/admin/prices)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/prices" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"model_id": "openai/gpt-4.1-mini", "input_multiplier": "3/4", "output_multiplier": "1", "effective_at": "'"$LUNTREX_EFFECTIVE_AT"'"}'

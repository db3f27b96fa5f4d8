#!/bin/sh
# Admin Platform Rate (POST /api/v1/admin/rates)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/rates" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"tokens_per_bdt": "520", "effective_at": "'"$LUNTREX_EFFECTIVE_AT"'", "reason": "new platform rate"}'

#!/bin/sh
# Put Auto Topup (PUT /api/v1/billing/auto-topup)
curl --fail-with-body -sS -X PUT "$LUNTREX_BASE_URL/billing/auto-topup" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"threshold_tokens": 50000, "amount_bdt": "500", "method": "invoice"}'

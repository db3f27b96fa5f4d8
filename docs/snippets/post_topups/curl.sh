#!/bin/sh
# Post Topup (POST /api/v1/topups)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/topups" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Idempotency-Key: example-post_topups" \
  -H "Content-Type: application/json" \
  -d '{"amount_bdt": "250.50", "method": "invoice"}'

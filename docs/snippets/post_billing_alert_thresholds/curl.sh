#!/bin/sh
# Post Alert Threshold (POST /api/v1/billing/alert-thresholds)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/billing/alert-thresholds" \
  -H "Authorization: Bearer $LUNTREX_API_KEY" \
  -H "Content-Type: application/json" \
  -d '{"kind": "absolute", "threshold_tokens": 10000}'

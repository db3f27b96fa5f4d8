#!/bin/sh
# Delete Alert Threshold (DELETE /api/v1/billing/alert-thresholds/{threshold_id})
curl --fail-with-body -sS -X DELETE "$LUNTREX_BASE_URL/billing/alert-thresholds/$LUNTREX_THRESHOLD_ID" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

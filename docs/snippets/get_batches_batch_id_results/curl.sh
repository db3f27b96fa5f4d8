#!/bin/sh
# Get Results (GET /api/v1/batches/{batch_id}/results)
# The answer is JSON lines: one JSON object a line.
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/batches/$LUNTREX_BATCH_ID/results" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

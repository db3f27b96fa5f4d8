#!/bin/sh
# Get Batch (GET /api/v1/batches/{batch_id})
# Asked again every 0.5 s until status is one of completed, cancelled, expired.
attempt=0; while [ $attempt -lt 240 ]; do
  answer=$(curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/batches/$LUNTREX_BATCH_ID" \
    -H "Authorization: Bearer $LUNTREX_API_KEY") || { echo "$answer" >&2; exit 1; }
  case "$answer" in *'"status":"completed"'*|*'"status":"cancelled"'*|*'"status":"expired"'*) break ;; esac
  attempt=$((attempt + 1)); sleep 0.5
done
echo "$answer"

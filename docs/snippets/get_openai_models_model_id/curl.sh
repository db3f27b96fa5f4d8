#!/bin/sh
# Retrieve Model (GET /api/v1/openai/models/{model_id})
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/openai/models/$LUNTREX_MODEL_ID" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# Get Job (GET /api/v1/jobs/{job_id})
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/jobs/$LUNTREX_JOB_ID" \
  -H "Authorization: Bearer $LUNTREX_API_KEY"

#!/bin/sh
# Create Workspace (POST /api/v1/admin/workspaces)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/workspaces" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"name": "Acme research", "grant_tokens": 1000000}'

#!/bin/sh
# Mint Key (POST /api/v1/admin/workspaces/{workspace_id}/keys)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID/keys" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY" \
  -H "Content-Type: application/json" \
  -d '{"name": "batch", "scopes": ["inference", "billing"]}'

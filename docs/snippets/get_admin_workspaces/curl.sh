#!/bin/sh
# List Workspaces (GET /api/v1/admin/workspaces)
curl --fail-with-body -sS -X GET "$LUNTREX_BASE_URL/admin/workspaces" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY"

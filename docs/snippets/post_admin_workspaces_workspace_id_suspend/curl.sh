#!/bin/sh
# Suspend Workspace (POST /api/v1/admin/workspaces/{workspace_id}/suspend)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID/suspend" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY"

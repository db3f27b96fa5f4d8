#!/bin/sh
# Resume Workspace (POST /api/v1/admin/workspaces/{workspace_id}/resume)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID/resume" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY"

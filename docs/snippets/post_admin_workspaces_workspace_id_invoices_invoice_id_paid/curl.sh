#!/bin/sh
# Admin Invoice Paid (POST /api/v1/admin/workspaces/{workspace_id}/invoices/{invoice_id}/paid)
curl --fail-with-body -sS -X POST "$LUNTREX_BASE_URL/admin/workspaces/$LUNTREX_WORKSPACE_ID/invoices/$LUNTREX_INVOICE_ID/paid" \
  -H "Authorization: Bearer $LUNTREX_ADMIN_KEY"

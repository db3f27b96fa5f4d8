<?php
// Admin Invoice Paid (POST /api/v1/admin/workspaces/{workspace_id}/invoices/{invoice_id}/paid)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/workspaces/' . getenv('LUNTREX_WORKSPACE_ID') . '/invoices/' . getenv('LUNTREX_INVOICE_ID') . '/paid');
$response->throw();
echo $response->body(), PHP_EOL;

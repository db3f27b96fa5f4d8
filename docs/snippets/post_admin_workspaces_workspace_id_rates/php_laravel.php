<?php
// Admin Workspace Rate (POST /api/v1/admin/workspaces/{workspace_id}/rates)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/workspaces/' . getenv('LUNTREX_WORKSPACE_ID') . '/rates', [
    'tokens_per_bdt' => '600',
    'effective_at' => '2099-01-01T00:00:00Z',
    'reason' => 'volume discount',
]);
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// Mint Key (POST /api/v1/admin/workspaces/{workspace_id}/keys)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/workspaces/' . getenv('LUNTREX_WORKSPACE_ID') . '/keys', [
    'name' => 'batch',
    'scopes' => [
        'inference',
        'billing',
    ],
]);
$response->throw();
echo $response->body(), PHP_EOL;

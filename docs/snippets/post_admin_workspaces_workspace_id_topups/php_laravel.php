<?php
// Admin Topup (POST /api/v1/admin/workspaces/{workspace_id}/topups)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->withHeaders([
    'Idempotency-Key' => 'example-post_admin_workspaces_workspace_id_topups',
])->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/workspaces/' . getenv('LUNTREX_WORKSPACE_ID') . '/topups', [
    'amount_paisa' => 25050,
    'method' => 'card',
]);
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// Admin Adjustment (POST /api/v1/admin/workspaces/{workspace_id}/adjustments)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->withHeaders([
    'Idempotency-Key' => 'example-post_admin_workspaces_workspace_id_adjustments',
])->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/workspaces/' . getenv('LUNTREX_WORKSPACE_ID') . '/adjustments', [
    'tokens' => -500,
    'reason' => 'correction',
]);
$response->throw();
echo $response->body(), PHP_EOL;

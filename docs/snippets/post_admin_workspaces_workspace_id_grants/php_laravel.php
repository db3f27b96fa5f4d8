<?php
// Grant Credit (POST /api/v1/admin/workspaces/{workspace_id}/grants)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/workspaces/' . getenv('LUNTREX_WORKSPACE_ID') . '/grants', [
    'tokens' => 5000,
    'reason' => 'goodwill',
]);
$response->throw();
echo $response->body(), PHP_EOL;

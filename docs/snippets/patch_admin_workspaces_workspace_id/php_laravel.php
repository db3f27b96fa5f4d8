<?php
// Update Workspace (PATCH /api/v1/admin/workspaces/{workspace_id})
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->patch(getenv('LUNTREX_BASE_URL') . '/admin/workspaces/' . getenv('LUNTREX_WORKSPACE_ID'), [
    'name' => 'Acme research lab',
    'rpm_max' => 600,
]);
$response->throw();
echo $response->body(), PHP_EOL;

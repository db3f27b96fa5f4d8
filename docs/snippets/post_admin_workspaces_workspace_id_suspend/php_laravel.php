<?php
// Suspend Workspace (POST /api/v1/admin/workspaces/{workspace_id}/suspend)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/workspaces/' . getenv('LUNTREX_WORKSPACE_ID') . '/suspend');
$response->throw();
echo $response->body(), PHP_EOL;

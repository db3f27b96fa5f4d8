<?php
// Show Workspace (GET /api/v1/admin/workspaces/{workspace_id})
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/admin/workspaces/' . getenv('LUNTREX_WORKSPACE_ID'));
$response->throw();
echo $response->body(), PHP_EOL;

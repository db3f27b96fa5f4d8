<?php
// List Keys (GET /api/v1/admin/workspaces/{workspace_id}/keys)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/admin/workspaces/' . getenv('LUNTREX_WORKSPACE_ID') . '/keys');
$response->throw();
echo $response->body(), PHP_EOL;

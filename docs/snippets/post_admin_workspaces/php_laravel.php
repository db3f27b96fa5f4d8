<?php
// Create Workspace (POST /api/v1/admin/workspaces)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/workspaces', [
    'name' => 'Acme research',
    'grant_tokens' => 1000000,
]);
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// List Workspaces (GET /api/v1/admin/workspaces)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/admin/workspaces');
$response->throw();
echo $response->body(), PHP_EOL;

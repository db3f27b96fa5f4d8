<?php
// List Files (GET /api/v1/openai/files)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/openai/files');
$response->throw();
echo $response->body(), PHP_EOL;

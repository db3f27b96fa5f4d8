<?php
// Get Usage (GET /api/v1/usage)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/usage');
$response->throw();
echo $response->body(), PHP_EOL;

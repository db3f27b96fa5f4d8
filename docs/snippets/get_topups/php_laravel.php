<?php
// Get Topups (GET /api/v1/topups)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/topups');
$response->throw();
echo $response->body(), PHP_EOL;

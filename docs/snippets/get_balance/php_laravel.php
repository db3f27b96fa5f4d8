<?php
// Get Balance (GET /api/v1/balance)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/balance');
$response->throw();
echo $response->body(), PHP_EOL;

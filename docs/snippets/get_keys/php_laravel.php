<?php
// List Keys (GET /api/v1/keys)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/keys');
$response->throw();
echo $response->body(), PHP_EOL;

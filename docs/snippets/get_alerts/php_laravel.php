<?php
// Get Alerts (GET /api/v1/alerts)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/alerts');
$response->throw();
echo $response->body(), PHP_EOL;

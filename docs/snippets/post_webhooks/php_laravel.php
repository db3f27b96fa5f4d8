<?php
// Create Webhook (POST /api/v1/webhooks)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/webhooks', []);
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// Put Webhook (PUT /api/v1/billing/webhook)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->put(getenv('LUNTREX_BASE_URL') . '/billing/webhook', [
    'url' => getenv('LUNTREX_WEBHOOK_URL'),
]);
$response->throw();
echo $response->body(), PHP_EOL;

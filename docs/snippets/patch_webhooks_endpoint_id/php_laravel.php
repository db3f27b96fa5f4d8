<?php
// Update Webhook (PATCH /api/v1/webhooks/{endpoint_id})
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->patch(getenv('LUNTREX_BASE_URL') . '/webhooks/' . getenv('LUNTREX_ENDPOINT_ID'), [
    'description' => 'production receiver (v2)',
]);
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// Create Webhook (POST /api/v1/webhooks)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/webhooks', [
    'url' => getenv('LUNTREX_WEBHOOK_URL'),
    'event_types' => [
        'job.completed',
        'job.failed',
    ],
    'description' => 'production receiver',
]);
$response->throw();
echo $response->body(), PHP_EOL;

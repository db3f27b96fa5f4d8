<?php
// Rotate Webhook Secret (POST /api/v1/webhooks/{endpoint_id}/rotate-secret)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/webhooks/' . getenv('LUNTREX_ENDPOINT_ID') . '/rotate-secret', [
    'grace_s' => 3600,
]);
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// Redeliver (POST /api/v1/webhooks/deliveries/{delivery_id}/redeliver)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/webhooks/deliveries/' . getenv('LUNTREX_DELIVERY_ID') . '/redeliver');
$response->throw();
echo $response->body(), PHP_EOL;

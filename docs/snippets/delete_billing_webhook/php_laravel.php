<?php
// Delete Webhook (DELETE /api/v1/billing/webhook)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->delete(getenv('LUNTREX_BASE_URL') . '/billing/webhook');
$response->throw();
echo $response->body(), PHP_EOL;

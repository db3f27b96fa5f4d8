<?php
// Put Auto Topup (PUT /api/v1/billing/auto-topup)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->put(getenv('LUNTREX_BASE_URL') . '/billing/auto-topup', [
    'threshold_tokens' => 50000,
    'amount_bdt' => '500',
    'method' => 'invoice',
]);
$response->throw();
echo $response->body(), PHP_EOL;

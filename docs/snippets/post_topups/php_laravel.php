<?php
// Post Topup (POST /api/v1/topups)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->withHeaders([
    'Idempotency-Key' => 'example-post_topups',
])->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/topups', [
    'amount_bdt' => '250.50',
    'method' => 'invoice',
]);
$response->throw();
echo $response->body(), PHP_EOL;

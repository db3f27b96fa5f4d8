<?php
// Admin Platform Rate (POST /api/v1/admin/rates)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/rates', [
    'tokens_per_bdt' => '520',
    'effective_at' => getenv('LUNTREX_EFFECTIVE_AT'),
    'reason' => 'new platform rate',
]);
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// Admin Platform Rate (POST /api/v1/admin/rates)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/rates', [
    'tokens_per_bdt' => '520',
    'effective_at' => '2099-01-01T00:00:00Z',
    'reason' => 'new platform rate',
]);
$response->throw();
echo $response->body(), PHP_EOL;

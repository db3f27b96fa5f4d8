<?php
// Post Alert Threshold (POST /api/v1/billing/alert-thresholds)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/billing/alert-thresholds', [
    'kind' => 'absolute',
    'threshold_tokens' => 10000,
]);
$response->throw();
echo $response->body(), PHP_EOL;

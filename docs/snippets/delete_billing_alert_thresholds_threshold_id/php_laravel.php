<?php
// Delete Alert Threshold (DELETE /api/v1/billing/alert-thresholds/{threshold_id})
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->delete(getenv('LUNTREX_BASE_URL') . '/billing/alert-thresholds/' . getenv('LUNTREX_THRESHOLD_ID'));
$response->throw();
echo $response->body(), PHP_EOL;

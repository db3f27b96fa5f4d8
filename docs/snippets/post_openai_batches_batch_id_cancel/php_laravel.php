<?php
// Cancel Batch (POST /api/v1/openai/batches/{batch_id}/cancel)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/openai/batches/' . getenv('LUNTREX_BATCH_ID') . '/cancel');
$response->throw();
echo $response->body(), PHP_EOL;

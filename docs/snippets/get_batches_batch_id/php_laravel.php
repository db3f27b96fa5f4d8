<?php
// Get Batch (GET /api/v1/batches/{batch_id})
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/batches/' . getenv('LUNTREX_BATCH_ID'));
$response->throw();
echo $response->body(), PHP_EOL;

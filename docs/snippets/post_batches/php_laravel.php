<?php
// Create Batch (POST /api/v1/batches)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/batches', [
    'requests' => [
        null,
    ],
]);
$response->throw();
echo $response->body(), PHP_EOL;

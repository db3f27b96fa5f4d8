<?php
// List Batches (GET /api/v1/batches)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/batches');
$response->throw();
echo $response->body(), PHP_EOL;

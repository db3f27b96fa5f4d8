<?php
// Get Usage By Day (GET /api/v1/ledger/usage)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/ledger/usage');
$response->throw();
echo $response->body(), PHP_EOL;

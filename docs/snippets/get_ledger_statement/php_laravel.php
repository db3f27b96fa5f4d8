<?php
// Get Statement (GET /api/v1/ledger/statement)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/ledger/statement');
$response->throw();
echo $response->body(), PHP_EOL;

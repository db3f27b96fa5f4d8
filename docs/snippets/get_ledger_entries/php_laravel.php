<?php
// Get Entries (GET /api/v1/ledger/entries)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/ledger/entries');
$response->throw();
echo $response->body(), PHP_EOL;

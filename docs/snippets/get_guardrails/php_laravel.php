<?php
// Show Guardrails (GET /api/v1/guardrails)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/guardrails');
$response->throw();
echo $response->body(), PHP_EOL;

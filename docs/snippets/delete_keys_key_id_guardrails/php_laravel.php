<?php
// Clear Key Guardrails (DELETE /api/v1/keys/{key_id}/guardrails)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->delete(getenv('LUNTREX_BASE_URL') . '/keys/' . getenv('LUNTREX_KEY_ID') . '/guardrails');
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// Show Key Guardrails (GET /api/v1/admin/keys/{key_id}/guardrails)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/admin/keys/' . getenv('LUNTREX_KEY_ID') . '/guardrails');
$response->throw();
echo $response->body(), PHP_EOL;

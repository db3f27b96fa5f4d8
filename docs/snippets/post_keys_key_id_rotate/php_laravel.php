<?php
// Rotate Key (POST /api/v1/keys/{key_id}/rotate)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/keys/' . getenv('LUNTREX_KEY_ID') . '/rotate', [
    'grace_s' => 600,
]);
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// Rotate Key (POST /api/v1/admin/keys/{key_id}/rotate)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/keys/' . getenv('LUNTREX_KEY_ID') . '/rotate', [
    'grace_s' => 60,
]);
$response->throw();
echo $response->body(), PHP_EOL;

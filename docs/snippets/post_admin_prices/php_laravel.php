<?php
// Admin Price (POST /api/v1/admin/prices)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/prices', [
    'model_id' => 'openai/gpt-4.1-mini',
    'input_multiplier' => '3/4',
    'output_multiplier' => '1',
    'effective_at' => getenv('LUNTREX_EFFECTIVE_AT'),
]);
$response->throw();
echo $response->body(), PHP_EOL;

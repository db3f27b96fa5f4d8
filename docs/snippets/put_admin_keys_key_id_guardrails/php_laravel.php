<?php
// Set Key Guardrails (PUT /api/v1/admin/keys/{key_id}/guardrails)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->put(getenv('LUNTREX_BASE_URL') . '/admin/keys/' . getenv('LUNTREX_KEY_ID') . '/guardrails', [
    'allowed_models' => [
        'openai/gpt-4.1-mini',
    ],
    'deny' => [
        [
            'name' => 'codenames',
            'keywords' => [
                'Project Falcon',
            ],
        ],
    ],
]);
$response->throw();
echo $response->body(), PHP_EOL;

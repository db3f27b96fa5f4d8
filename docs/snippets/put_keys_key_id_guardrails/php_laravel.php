<?php
// Set Key Guardrails (PUT /api/v1/keys/{key_id}/guardrails)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->put(getenv('LUNTREX_BASE_URL') . '/keys/' . getenv('LUNTREX_KEY_ID') . '/guardrails', [
    'max_prompt_chars' => 8000,
    'deny' => [
        [
            'name' => 'api-secrets',
            'pattern' => 'sk-[A-Za-z0-9]{20,}',
        ],
        [
            'name' => 'tickets',
            'keywords' => [
                'ACME',
            ],
        ],
    ],
    'redact' => [
        'email',
    ],
]);
$response->throw();
echo $response->body(), PHP_EOL;

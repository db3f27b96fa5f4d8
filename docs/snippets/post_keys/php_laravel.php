<?php
// Create Key (POST /api/v1/keys)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/keys', [
    'name' => 'ci',
    'scopes' => [
        'inference',
    ],
    'rpm_max' => 60,
    'guardrails' => [
        'deny' => [
            [
                'name' => 'api-secrets',
                'pattern' => 'sk-[A-Za-z0-9]{20,}',
            ],
        ],
        'redact' => [
            'email',
        ],
    ],
]);
$response->throw();
echo $response->body(), PHP_EOL;

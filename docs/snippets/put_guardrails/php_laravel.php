<?php
// Set Guardrails (PUT /api/v1/guardrails)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->put(getenv('LUNTREX_BASE_URL') . '/guardrails', [
    'allowed_models' => [
        'openai/gpt-4.1-mini',
        'gemini-2.5-flash',
    ],
    'max_prompt_chars' => 50000,
    'deny' => [
        [
            'name' => 'codenames',
            'keywords' => [
                'Project Falcon',
                'Bluebird',
            ],
        ],
        [
            'name' => 'us-ssn',
            'pattern' => '\\b\\d{3}-\\d{2}-\\d{4}\\b',
        ],
    ],
    'redact' => [
        'email',
        'phone',
        'card',
    ],
]);
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// Create File (POST /api/v1/openai/files)
use Illuminate\Support\Facades\Http;

// The batch file: one request a line.
$lines = [
    [
        'custom_id' => 'request-1',
        'method' => 'POST',
        'url' => '/v1/chat/completions',
        'body' => [
            'model' => 'openai/gpt-4.1-mini',
            'messages' => [
                [
                    'role' => 'user',
                    'content' => 'Name a colour.',
                ],
            ],
            'max_tokens' => 16,
        ],
    ],
    [
        'custom_id' => 'request-2',
        'method' => 'POST',
        'url' => '/v1/chat/completions',
        'body' => [
            'model' => 'openai/gpt-4.1-mini',
            'messages' => [
                [
                    'role' => 'user',
                    'content' => 'Name a river.',
                ],
            ],
            'max_tokens' => 16,
        ],
    ],
];
$jsonl = implode('', array_map(fn ($line) => json_encode($line) . "\n", $lines));
$response = Http::withToken(getenv('LUNTREX_API_KEY'))->attach('file', $jsonl, 'batch.jsonl', ['Content-Type' => 'application/jsonl'])->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/openai/files', [
    'purpose' => 'batch',
]);
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// Create Chat Completion (POST /api/v1/openai/chat/completions)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->withHeaders([
    'Idempotency-Key' => 'example-post_openai_chat_completions',
])->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/openai/chat/completions', [
    'model' => 'openai/gpt-4.1-mini',
    'messages' => [
        [
            'role' => 'user',
            'content' => 'Say hello in five words.',
        ],
    ],
    'max_tokens' => 32,
]);
$response->throw();
echo $response->body(), PHP_EOL;

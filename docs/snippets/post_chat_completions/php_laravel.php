<?php
// Create Completion (POST /api/v1/chat/completions)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->withHeaders([
    'Idempotency-Key' => 'example-post_chat_completions',
])->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/chat/completions', [
    'model' => 'openai/gpt-4.1-mini',
    'messages' => [
        [
            'role' => 'user',
            'content' => 'Write a short rhyming poem about the ocean.',
        ],
    ],
    'max_tokens' => 512,
]);
$response->throw();
echo $response->body(), PHP_EOL;

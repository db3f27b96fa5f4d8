<?php
// Create Batch (POST /api/v1/batches)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/batches', [
    'requests' => [
        [
            'custom_id' => 'request-1',
            'method' => 'POST',
            'url' => '/v1/chat/completions',
            'body' => [
                'model' => 'openai/gpt-4.1-mini',
                'messages' => [
                    [
                        'role' => 'user',
                        'content' => 'Hi',
                    ],
                ],
            ],
        ],
    ],
    'completion_window' => '24h',
]);
$response->throw();
echo $response->body(), PHP_EOL;

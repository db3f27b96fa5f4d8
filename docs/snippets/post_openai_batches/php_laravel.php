<?php
// Create Batch (POST /api/v1/openai/batches)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/openai/batches', [
    'input_file_id' => getenv('LUNTREX_FILE_ID'),
    'endpoint' => '/v1/chat/completions',
    'completion_window' => '24h',
    'metadata' => [
        'project' => 'docs',
    ],
]);
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// Create File (POST /api/v1/openai/files)
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
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/openai/files');
curl_setopt($curl, CURLOPT_POSTFIELDS, ['purpose' => 'batch', 'file' => new CURLStringFile($jsonl, 'batch.jsonl', 'application/jsonl')]);
curl_setopt_array($curl, [
    CURLOPT_CUSTOMREQUEST => 'POST',
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_TIMEOUT => 120,
    CURLOPT_HTTPHEADER => ['Authorization: Bearer ' . getenv('LUNTREX_API_KEY')],
]);
$answer = curl_exec($curl);
$status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
if ($answer === false || $status >= 400) {
    fwrite(STDERR, "$status: $answer\n");
    exit(1);
}
echo $status === 204 ? $status : $answer, PHP_EOL;

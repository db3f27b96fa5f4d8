<?php
// Create Chat Completion (POST /api/v1/openai/chat/completions)
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/openai/chat/completions');
$body = [
    'model' => 'openai/gpt-4.1-mini',
    'messages' => [
        [
            'role' => 'user',
            'content' => 'Say hello in five words.',
        ],
    ],
    'max_tokens' => 32,
];
curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body));
curl_setopt_array($curl, [
    CURLOPT_CUSTOMREQUEST => 'POST',
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_TIMEOUT => 120,
    CURLOPT_HTTPHEADER => ['Authorization: Bearer ' . getenv('LUNTREX_API_KEY'), 'Idempotency-Key: example-post_openai_chat_completions', 'Content-Type: application/json'],
]);
$answer = curl_exec($curl);
$status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
if ($answer === false || $status >= 400) {
    fwrite(STDERR, "$status: $answer\n");
    exit(1);
}
echo $status === 204 ? $status : $answer, PHP_EOL;

<?php
// Create Batch (POST /api/v1/openai/batches)
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/openai/batches');
$body = [
    'input_file_id' => getenv('LUNTREX_FILE_ID'),
    'endpoint' => '/v1/chat/completions',
    'completion_window' => '24h',
    'metadata' => [
        'project' => 'docs',
    ],
];
curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body));
curl_setopt_array($curl, [
    CURLOPT_CUSTOMREQUEST => 'POST',
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_TIMEOUT => 120,
    CURLOPT_HTTPHEADER => ['Authorization: Bearer ' . getenv('LUNTREX_API_KEY'), 'Content-Type: application/json'],
]);
$answer = curl_exec($curl);
$status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
if ($answer === false || $status >= 400) {
    fwrite(STDERR, "$status: $answer\n");
    exit(1);
}
echo $status === 204 ? $status : $answer, PHP_EOL;

<?php
// Set Key Guardrails (PUT /api/v1/keys/{key_id}/guardrails)
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/keys/' . getenv('LUNTREX_KEY_ID') . '/guardrails');
$body = [
    'max_prompt_chars' => 8000,
    'deny' => [
        [
            'name' => 'api-secrets',
            'pattern' => 'sk-[A-Za-z0-9]{20,}',
        ],
        [
            'name' => 'tickets',
            'keywords' => [
                'ACME',
            ],
        ],
    ],
    'redact' => [
        'email',
    ],
];
curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body));
curl_setopt_array($curl, [
    CURLOPT_CUSTOMREQUEST => 'PUT',
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

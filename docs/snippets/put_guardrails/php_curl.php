<?php
// Set Guardrails (PUT /api/v1/guardrails)
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/guardrails');
$body = [
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

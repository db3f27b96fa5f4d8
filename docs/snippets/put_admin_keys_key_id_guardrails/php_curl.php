<?php
// Set Key Guardrails (PUT /api/v1/admin/keys/{key_id}/guardrails)
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/admin/keys/' . getenv('LUNTREX_KEY_ID') . '/guardrails');
$body = [
    'allowed_models' => [
        'openai/gpt-4.1-mini',
    ],
    'deny' => [
        [
            'name' => 'codenames',
            'keywords' => [
                'Project Falcon',
            ],
        ],
    ],
];
curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body));
curl_setopt_array($curl, [
    CURLOPT_CUSTOMREQUEST => 'PUT',
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_TIMEOUT => 120,
    CURLOPT_HTTPHEADER => ['Authorization: Bearer ' . getenv('LUNTREX_ADMIN_KEY'), 'Content-Type: application/json'],
]);
$answer = curl_exec($curl);
$status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
if ($answer === false || $status >= 400) {
    fwrite(STDERR, "$status: $answer\n");
    exit(1);
}
echo $status === 204 ? $status : $answer, PHP_EOL;

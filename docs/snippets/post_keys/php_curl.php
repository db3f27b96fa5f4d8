<?php
// Create Key (POST /api/v1/keys)
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/keys');
$body = [
    'name' => 'ci',
    'scopes' => [
        'inference',
    ],
    'rpm_max' => 60,
    'guardrails' => [
        'deny' => [
            [
                'name' => 'api-secrets',
                'pattern' => 'sk-[A-Za-z0-9]{20,}',
            ],
        ],
        'redact' => [
            'email',
        ],
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

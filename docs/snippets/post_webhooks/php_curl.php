<?php
// Create Webhook (POST /api/v1/webhooks)
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/webhooks');
$body = [
    'url' => getenv('LUNTREX_WEBHOOK_URL'),
    'event_types' => [
        'job.completed',
        'job.failed',
    ],
    'description' => 'production receiver',
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

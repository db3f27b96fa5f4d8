<?php
// Rotate Webhook Secret (POST /api/v1/webhooks/{endpoint_id}/rotate-secret)
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/webhooks/' . getenv('LUNTREX_ENDPOINT_ID') . '/rotate-secret');
$body = [
    'grace_s' => 3600,
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

<?php
// Update Webhook (PATCH /api/v1/webhooks/{endpoint_id})
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/webhooks/' . getenv('LUNTREX_ENDPOINT_ID'));
$body = [
    'description' => 'production receiver (v2)',
];
curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body));
curl_setopt_array($curl, [
    CURLOPT_CUSTOMREQUEST => 'PATCH',
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

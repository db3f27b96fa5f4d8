<?php
// Redeliver (POST /api/v1/webhooks/deliveries/{delivery_id}/redeliver)
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/webhooks/deliveries/' . getenv('LUNTREX_DELIVERY_ID') . '/redeliver');
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

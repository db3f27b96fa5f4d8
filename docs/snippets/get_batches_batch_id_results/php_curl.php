<?php
// Get Results (GET /api/v1/batches/{batch_id}/results)
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/batches/' . getenv('LUNTREX_BATCH_ID') . '/results');
curl_setopt_array($curl, [
    CURLOPT_CUSTOMREQUEST => 'GET',
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
foreach (explode("\n", $answer) as $line) {
    if (trim($line) !== '') {
        echo json_encode(json_decode($line, false, 512, JSON_THROW_ON_ERROR)), PHP_EOL;
    }
}

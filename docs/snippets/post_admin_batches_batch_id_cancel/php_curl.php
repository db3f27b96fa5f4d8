<?php
// Cancel Batch (POST /api/v1/admin/batches/{batch_id}/cancel)
$curl = curl_init(getenv('LUNTREX_BASE_URL') . '/admin/batches/' . getenv('LUNTREX_BATCH_ID') . '/cancel');
curl_setopt_array($curl, [
    CURLOPT_CUSTOMREQUEST => 'POST',
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_TIMEOUT => 120,
    CURLOPT_HTTPHEADER => ['Authorization: Bearer ' . getenv('LUNTREX_ADMIN_KEY')],
]);
$answer = curl_exec($curl);
$status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
if ($answer === false || $status >= 400) {
    fwrite(STDERR, "$status: $answer\n");
    exit(1);
}
echo $status === 204 ? $status : $answer, PHP_EOL;

<?php
// Cancel Batch (POST /api/v1/admin/batches/{batch_id}/cancel)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/batches/' . getenv('LUNTREX_BATCH_ID') . '/cancel');
$response->throw();
echo $response->body(), PHP_EOL;

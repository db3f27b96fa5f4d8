<?php
// Admin Refund (POST /api/v1/admin/workspaces/{workspace_id}/refunds)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_ADMIN_KEY'))->timeout(120)->post(getenv('LUNTREX_BASE_URL') . '/admin/workspaces/' . getenv('LUNTREX_WORKSPACE_ID') . '/refunds', [
    'job_id' => getenv('LUNTREX_JOB_ID'),
    'reason' => 'bad answer',
]);
$response->throw();
echo $response->body(), PHP_EOL;

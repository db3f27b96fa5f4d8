<?php
// Get Job (GET /api/v1/jobs/{job_id})
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/jobs/' . getenv('LUNTREX_JOB_ID'));
$response->throw();
echo $response->body(), PHP_EOL;

<?php
// File Content (GET /api/v1/openai/files/{file_id}/content)
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/openai/files/' . getenv('LUNTREX_FILE_ID') . '/content');
$response->throw();
foreach (explode("\n", $response->body()) as $line) {
    if (trim($line) !== '') {
        echo json_encode(json_decode($line, false, 512, JSON_THROW_ON_ERROR)), PHP_EOL;
    }
}

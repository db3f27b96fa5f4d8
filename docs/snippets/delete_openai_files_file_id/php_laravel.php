<?php
// Delete File (DELETE /api/v1/openai/files/{file_id})
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->delete(getenv('LUNTREX_BASE_URL') . '/openai/files/' . getenv('LUNTREX_FILE_ID'));
$response->throw();
echo $response->body(), PHP_EOL;

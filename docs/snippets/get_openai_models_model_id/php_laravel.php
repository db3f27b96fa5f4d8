<?php
// Retrieve Model (GET /api/v1/openai/models/{model_id})
use Illuminate\Support\Facades\Http;

$response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/openai/models/' . getenv('LUNTREX_MODEL_ID'));
$response->throw();
echo $response->body(), PHP_EOL;

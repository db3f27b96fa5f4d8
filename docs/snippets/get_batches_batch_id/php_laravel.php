<?php
// Get Batch (GET /api/v1/batches/{batch_id})
use Illuminate\Support\Facades\Http;

for ($attempt = 0; $attempt < 240; $attempt++) {
    $response = Http::withToken(getenv('LUNTREX_API_KEY'))->timeout(120)->get(getenv('LUNTREX_BASE_URL') . '/batches/' . getenv('LUNTREX_BATCH_ID'));
    $response->throw();
    if (in_array($response->json()['status'], ['completed', 'cancelled', 'expired'], true)) {
        break;
    }
    usleep(500000);
}
echo $response->body(), PHP_EOL;

// Create Batch (POST /api/v1/batches)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/batches`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "requests": [
      {
        "custom_id": "request-1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
          "model": "openai/gpt-4.1-mini",
          "messages": [
            {
              "role": "user",
              "content": "Hi"
            }
          ]
        }
      }
    ],
    "completion_window": "24h"
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

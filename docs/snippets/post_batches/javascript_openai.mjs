// Create Batch (POST /api/v1/batches)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/batches`, { body: {
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
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

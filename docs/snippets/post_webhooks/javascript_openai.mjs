// Create Webhook (POST /api/v1/webhooks)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/webhooks`, { body: {
  "url": process.env.LUNTREX_WEBHOOK_URL,
  "event_types": [
    "job.completed",
    "job.failed"
  ],
  "description": "production receiver"
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

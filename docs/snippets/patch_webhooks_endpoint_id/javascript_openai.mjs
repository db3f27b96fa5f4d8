// Update Webhook (PATCH /api/v1/webhooks/{endpoint_id})
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.patch(`/webhooks/${process.env.LUNTREX_ENDPOINT_ID}`, { body: {
  "description": "production receiver (v2)"
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

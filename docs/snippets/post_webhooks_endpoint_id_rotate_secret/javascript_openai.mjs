// Rotate Webhook Secret (POST /api/v1/webhooks/{endpoint_id}/rotate-secret)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/webhooks/${process.env.LUNTREX_ENDPOINT_ID}/rotate-secret`, { body: {
  "grace_s": 3600
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

// Put Webhook (PUT /api/v1/billing/webhook)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.put(`/billing/webhook`, { body: {
  "url": process.env.LUNTREX_WEBHOOK_URL
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

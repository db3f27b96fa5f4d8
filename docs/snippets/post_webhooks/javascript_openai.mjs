// Create Webhook (POST /api/v1/webhooks)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/webhooks`, { body: {} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

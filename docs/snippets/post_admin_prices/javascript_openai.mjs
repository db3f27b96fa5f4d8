// Admin Price (POST /api/v1/admin/prices)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.post(`/admin/prices`, { body: {
  "model_id": "openai/gpt-4.1-mini",
  "input_multiplier": "3/4",
  "output_multiplier": "1",
  "effective_at": process.env.LUNTREX_EFFECTIVE_AT
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

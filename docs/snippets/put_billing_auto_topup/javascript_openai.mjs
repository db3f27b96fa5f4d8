// Put Auto Topup (PUT /api/v1/billing/auto-topup)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.put(`/billing/auto-topup`, { body: {
  "threshold_tokens": 50000,
  "amount_bdt": "500",
  "method": "invoice"
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

// Post Topup (POST /api/v1/topups)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/topups`, { body: {
  "amount_bdt": "250.50",
  "method": "invoice"
}, headers: {"Idempotency-Key": "example-post_topups"} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

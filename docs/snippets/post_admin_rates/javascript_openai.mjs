// Admin Platform Rate (POST /api/v1/admin/rates)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.post(`/admin/rates`, { body: {
  "tokens_per_bdt": "520",
  "effective_at": process.env.LUNTREX_EFFECTIVE_AT,
  "reason": "new platform rate"
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

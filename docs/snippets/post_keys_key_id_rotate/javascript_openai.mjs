// Rotate Key (POST /api/v1/keys/{key_id}/rotate)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/keys/${process.env.LUNTREX_KEY_ID}/rotate`, { body: {
  "grace_s": 600
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

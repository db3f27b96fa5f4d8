// Clear Key Guardrails (DELETE /api/v1/keys/{key_id}/guardrails)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.delete(`/keys/${process.env.LUNTREX_KEY_ID}/guardrails`);
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

// Revoke Key (DELETE /api/v1/admin/keys/{key_id})
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.delete(`/admin/keys/${process.env.LUNTREX_KEY_ID}`);
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

// Get Usage By Day (GET /api/v1/ledger/usage)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.get(`/ledger/usage`);
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

// Get Statement (GET /api/v1/ledger/statement)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.get(`/ledger/statement`);
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

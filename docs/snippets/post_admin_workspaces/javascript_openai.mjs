// Create Workspace (POST /api/v1/admin/workspaces)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.post(`/admin/workspaces`, { body: {
  "name": "Acme research",
  "grant_tokens": 1000000
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

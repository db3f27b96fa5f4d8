// Grant Credit (POST /api/v1/admin/workspaces/{workspace_id}/grants)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.post(`/admin/workspaces/${process.env.LUNTREX_WORKSPACE_ID}/grants`, { body: {
  "tokens": 5000,
  "reason": "goodwill"
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

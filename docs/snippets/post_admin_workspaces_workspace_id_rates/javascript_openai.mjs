// Admin Workspace Rate (POST /api/v1/admin/workspaces/{workspace_id}/rates)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.post(`/admin/workspaces/${process.env.LUNTREX_WORKSPACE_ID}/rates`, { body: {
  "tokens_per_bdt": "600",
  "effective_at": "2099-01-01T00:00:00Z",
  "reason": "volume discount"
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

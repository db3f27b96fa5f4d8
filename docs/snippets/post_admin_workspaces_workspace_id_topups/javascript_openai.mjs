// Admin Topup (POST /api/v1/admin/workspaces/{workspace_id}/topups)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.post(`/admin/workspaces/${process.env.LUNTREX_WORKSPACE_ID}/topups`, { body: {
  "amount_paisa": 25050,
  "method": "card"
}, headers: {"Idempotency-Key": "example-post_admin_workspaces_workspace_id_topups"} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

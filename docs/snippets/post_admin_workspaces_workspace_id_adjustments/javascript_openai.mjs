// Admin Adjustment (POST /api/v1/admin/workspaces/{workspace_id}/adjustments)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.post(`/admin/workspaces/${process.env.LUNTREX_WORKSPACE_ID}/adjustments`, { body: {
  "tokens": -500,
  "reason": "correction"
}, headers: {"Idempotency-Key": "example-post_admin_workspaces_workspace_id_adjustments"} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

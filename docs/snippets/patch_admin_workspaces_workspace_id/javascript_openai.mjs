// Update Workspace (PATCH /api/v1/admin/workspaces/{workspace_id})
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.patch(`/admin/workspaces/${process.env.LUNTREX_WORKSPACE_ID}`, { body: {
  "name": "Acme research lab",
  "rpm_max": 600
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

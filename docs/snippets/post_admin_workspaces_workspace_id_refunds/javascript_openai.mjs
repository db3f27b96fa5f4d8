// Admin Refund (POST /api/v1/admin/workspaces/{workspace_id}/refunds)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.post(`/admin/workspaces/${process.env.LUNTREX_WORKSPACE_ID}/refunds`, { body: {
  "job_id": process.env.LUNTREX_JOB_ID,
  "reason": "bad answer"
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

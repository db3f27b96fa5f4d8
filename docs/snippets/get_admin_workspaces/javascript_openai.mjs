// List Workspaces (GET /api/v1/admin/workspaces)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.get(`/admin/workspaces`);
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

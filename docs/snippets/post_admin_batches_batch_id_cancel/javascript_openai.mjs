// Cancel Batch (POST /api/v1/admin/batches/{batch_id}/cancel)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.post(`/admin/batches/${process.env.LUNTREX_BATCH_ID}/cancel`);
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

// Get Results (GET /api/v1/batches/{batch_id}/results)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const response = await client.get(`/batches/${process.env.LUNTREX_BATCH_ID}/results`).asResponse();
for (const line of (await response.text()).split("\n")) {
  if (line.trim()) console.log(JSON.stringify(JSON.parse(line)));
}

// Get Batch (GET /api/v1/batches/{batch_id})
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
let answer;
for (let attempt = 0; attempt < 240; attempt++) {
  answer = await client.get(`/batches/${process.env.LUNTREX_BATCH_ID}`);
  if (["completed", "cancelled", "expired"].includes(answer["status"])) break;
  await new Promise((resolve) => setTimeout(resolve, 500));
}
console.log(JSON.stringify(answer));

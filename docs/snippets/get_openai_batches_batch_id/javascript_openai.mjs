// Retrieve Batch (GET /api/v1/openai/batches/{batch_id})
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL + "/openai", apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.batches.retrieve(process.env.LUNTREX_BATCH_ID);
console.log(JSON.stringify(answer));

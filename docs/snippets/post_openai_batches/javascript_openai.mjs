// Create Batch (POST /api/v1/openai/batches)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/openai/batches`, { body: {
  "input_file_id": "example",
  "endpoint": "/v1/chat/completions"
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

// Create Batch (POST /api/v1/openai/batches)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL + "/openai", apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.batches.create({
  "input_file_id": process.env.LUNTREX_FILE_ID,
  "endpoint": "/v1/chat/completions",
  "completion_window": "24h",
  "metadata": {
    "project": "docs"
  }
});
console.log(JSON.stringify(answer));

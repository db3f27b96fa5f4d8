// Create File (POST /api/v1/openai/files)
import OpenAI, { toFile } from "openai";

// The batch file: one request a line.
const LINES = [
  {
    "custom_id": "request-1",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {
      "model": "openai/gpt-4.1-mini",
      "messages": [
        {
          "role": "user",
          "content": "Name a colour."
        }
      ],
      "max_tokens": 16
    }
  },
  {
    "custom_id": "request-2",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {
      "model": "openai/gpt-4.1-mini",
      "messages": [
        {
          "role": "user",
          "content": "Name a river."
        }
      ],
      "max_tokens": 16
    }
  }
];
const JSONL = LINES.map((line) => JSON.stringify(line) + "\n").join("");
const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL + "/openai", apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.files.create({ file: await toFile(Buffer.from(JSONL), "batch.jsonl", { type: "application/jsonl" }), purpose: "batch" });
console.log(JSON.stringify(answer));

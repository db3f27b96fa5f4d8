// Create Completion (POST /api/v1/chat/completions)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/chat/completions`, { body: {
  "model": "openai/gpt-4.1-mini",
  "messages": [
    {
      "role": "user",
      "content": "Write a short rhyming poem about the ocean."
    }
  ],
  "max_tokens": 512
}, headers: {"Idempotency-Key": "example-post_chat_completions"} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

// Set Key Guardrails (PUT /api/v1/keys/{key_id}/guardrails)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.put(`/keys/${process.env.LUNTREX_KEY_ID}/guardrails`, { body: {
  "max_prompt_chars": 8000,
  "deny": [
    {
      "name": "api-secrets",
      "pattern": "sk-[A-Za-z0-9]{20,}"
    },
    {
      "name": "tickets",
      "keywords": [
        "ACME"
      ]
    }
  ],
  "redact": [
    "email"
  ]
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

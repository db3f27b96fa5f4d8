// Set Guardrails (PUT /api/v1/guardrails)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.put(`/guardrails`, { body: {
  "allowed_models": [
    "openai/gpt-4.1-mini",
    "gemini-2.5-flash"
  ],
  "max_prompt_chars": 50000,
  "deny": [
    {
      "name": "codenames",
      "keywords": [
        "Project Falcon",
        "Bluebird"
      ]
    },
    {
      "name": "us-ssn",
      "pattern": "\\b\\d{3}-\\d{2}-\\d{4}\\b"
    }
  ],
  "redact": [
    "email",
    "phone",
    "card"
  ]
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

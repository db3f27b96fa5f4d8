// Create Key (POST /api/v1/keys)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_API_KEY });
const answer = await client.post(`/keys`, { body: {
  "name": "ci",
  "scopes": [
    "inference"
  ],
  "rpm_max": 60,
  "guardrails": {
    "deny": [
      {
        "name": "api-secrets",
        "pattern": "sk-[A-Za-z0-9]{20,}"
      }
    ],
    "redact": [
      "email"
    ]
  }
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

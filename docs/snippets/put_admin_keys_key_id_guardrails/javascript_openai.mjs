// Set Key Guardrails (PUT /api/v1/admin/keys/{key_id}/guardrails)
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.LUNTREX_BASE_URL, apiKey: process.env.LUNTREX_ADMIN_KEY });
const answer = await client.put(`/admin/keys/${process.env.LUNTREX_KEY_ID}/guardrails`, { body: {
  "allowed_models": [
    "openai/gpt-4.1-mini"
  ],
  "deny": [
    {
      "name": "codenames",
      "keywords": [
        "Project Falcon"
      ]
    }
  ]
} });
console.log(answer === undefined || answer === null ? "done" : JSON.stringify(answer));

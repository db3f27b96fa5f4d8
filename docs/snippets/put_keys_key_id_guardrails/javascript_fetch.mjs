// Set Key Guardrails (PUT /api/v1/keys/{key_id}/guardrails)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/keys/${process.env.LUNTREX_KEY_ID}/guardrails`, {
  method: "PUT",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
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
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

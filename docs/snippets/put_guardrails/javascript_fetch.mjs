// Set Guardrails (PUT /api/v1/guardrails)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/guardrails`, {
  method: "PUT",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
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
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

// Set Key Guardrails (PUT /api/v1/admin/keys/{key_id}/guardrails)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/admin/keys/${process.env.LUNTREX_KEY_ID}/guardrails`, {
  method: "PUT",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_ADMIN_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
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
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

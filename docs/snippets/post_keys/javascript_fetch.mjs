// Create Key (POST /api/v1/keys)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/keys`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
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
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

// Show Guardrails (GET /api/v1/guardrails)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/guardrails`, {
  method: "GET",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}` },
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

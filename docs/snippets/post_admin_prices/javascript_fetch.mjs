// Admin Price (POST /api/v1/admin/prices)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/admin/prices`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_ADMIN_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "model_id": "openai/gpt-4.1-mini",
    "input_multiplier": "3/4",
    "output_multiplier": "1",
    "effective_at": process.env.LUNTREX_EFFECTIVE_AT
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

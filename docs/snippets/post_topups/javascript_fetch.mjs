// Post Topup (POST /api/v1/topups)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/topups`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Idempotency-Key": "example-post_topups", "Content-Type": "application/json" },
  body: JSON.stringify({
    "amount_bdt": "250.50",
    "method": "invoice"
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

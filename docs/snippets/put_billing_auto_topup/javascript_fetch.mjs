// Put Auto Topup (PUT /api/v1/billing/auto-topup)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/billing/auto-topup`, {
  method: "PUT",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "threshold_tokens": 50000,
    "amount_bdt": "500",
    "method": "invoice"
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

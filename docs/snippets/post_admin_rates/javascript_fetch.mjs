// Admin Platform Rate (POST /api/v1/admin/rates)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/admin/rates`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_ADMIN_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "tokens_per_bdt": "520",
    "effective_at": process.env.LUNTREX_EFFECTIVE_AT,
    "reason": "new platform rate"
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

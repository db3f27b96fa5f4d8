// Post Alert Threshold (POST /api/v1/billing/alert-thresholds)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/billing/alert-thresholds`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "kind": "absolute",
    "threshold_tokens": 10000
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

// Rotate Webhook Secret (POST /api/v1/webhooks/{endpoint_id}/rotate-secret)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/webhooks/${process.env.LUNTREX_ENDPOINT_ID}/rotate-secret`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "grace_s": 3600
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

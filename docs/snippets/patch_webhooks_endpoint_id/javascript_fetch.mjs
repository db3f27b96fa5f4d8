// Update Webhook (PATCH /api/v1/webhooks/{endpoint_id})
const response = await fetch(process.env.LUNTREX_BASE_URL + `/webhooks/${process.env.LUNTREX_ENDPOINT_ID}`, {
  method: "PATCH",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "description": "production receiver (v2)"
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

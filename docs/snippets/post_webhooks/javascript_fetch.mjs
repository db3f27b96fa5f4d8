// Create Webhook (POST /api/v1/webhooks)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/webhooks`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "url": process.env.LUNTREX_WEBHOOK_URL,
    "event_types": [
      "job.completed",
      "job.failed"
    ],
    "description": "production receiver"
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

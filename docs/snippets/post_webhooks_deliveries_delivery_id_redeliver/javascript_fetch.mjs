// Redeliver (POST /api/v1/webhooks/deliveries/{delivery_id}/redeliver)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/webhooks/deliveries/${process.env.LUNTREX_DELIVERY_ID}/redeliver`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}` },
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

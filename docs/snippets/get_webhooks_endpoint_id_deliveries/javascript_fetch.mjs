// List Deliveries (GET /api/v1/webhooks/{endpoint_id}/deliveries)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/webhooks/${process.env.LUNTREX_ENDPOINT_ID}/deliveries`, {
  method: "GET",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}` },
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

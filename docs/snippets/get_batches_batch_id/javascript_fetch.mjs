// Get Batch (GET /api/v1/batches/{batch_id})
const response = await fetch(process.env.LUNTREX_BASE_URL + `/batches/${process.env.LUNTREX_BATCH_ID}`, {
  method: "GET",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}` },
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

// Cancel Batch (POST /api/v1/admin/batches/{batch_id}/cancel)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/admin/batches/${process.env.LUNTREX_BATCH_ID}/cancel`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_ADMIN_KEY}` },
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

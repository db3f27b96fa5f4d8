// Get Results (GET /api/v1/batches/{batch_id}/results)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/batches/${process.env.LUNTREX_BATCH_ID}/results`, {
  method: "GET",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}` },
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
for (const line of (await response.text()).split("\n")) {
  if (line.trim()) console.log(JSON.stringify(JSON.parse(line)));
}

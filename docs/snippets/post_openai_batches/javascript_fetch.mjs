// Create Batch (POST /api/v1/openai/batches)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/openai/batches`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "input_file_id": "example",
    "endpoint": "/v1/chat/completions"
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

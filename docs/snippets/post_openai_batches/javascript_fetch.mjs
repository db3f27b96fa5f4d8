// Create Batch (POST /api/v1/openai/batches)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/openai/batches`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "input_file_id": process.env.LUNTREX_FILE_ID,
    "endpoint": "/v1/chat/completions",
    "completion_window": "24h",
    "metadata": {
      "project": "docs"
    }
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

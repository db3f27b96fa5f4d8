// Get Batch (GET /api/v1/batches/{batch_id})
let answer;
for (let attempt = 0; attempt < 240; attempt++) {
  const response = await fetch(process.env.LUNTREX_BASE_URL + `/batches/${process.env.LUNTREX_BATCH_ID}`, {
    method: "GET",
    headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}` },
  });
  if (!response.ok) {
    throw new Error(`${response.status}: ${await response.text()}`);
  }
  answer = await response.json();
  if (["completed", "cancelled", "expired"].includes(answer["status"])) break;
  await new Promise((resolve) => setTimeout(resolve, 500));
}
console.log(JSON.stringify(answer));

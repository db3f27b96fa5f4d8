// Rotate Key (POST /api/v1/keys/{key_id}/rotate)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/keys/${process.env.LUNTREX_KEY_ID}/rotate`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "grace_s": 600
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

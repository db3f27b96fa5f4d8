// Rotate Key (POST /api/v1/admin/keys/{key_id}/rotate)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/admin/keys/${process.env.LUNTREX_KEY_ID}/rotate`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_ADMIN_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "grace_s": 60
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

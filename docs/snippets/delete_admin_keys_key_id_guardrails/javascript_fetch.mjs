// Clear Key Guardrails (DELETE /api/v1/admin/keys/{key_id}/guardrails)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/admin/keys/${process.env.LUNTREX_KEY_ID}/guardrails`, {
  method: "DELETE",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_ADMIN_KEY}` },
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

// Grant Credit (POST /api/v1/admin/workspaces/{workspace_id}/grants)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/admin/workspaces/${process.env.LUNTREX_WORKSPACE_ID}/grants`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_ADMIN_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "tokens": 5000,
    "reason": "goodwill"
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

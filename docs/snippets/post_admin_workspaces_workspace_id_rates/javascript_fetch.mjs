// Admin Workspace Rate (POST /api/v1/admin/workspaces/{workspace_id}/rates)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/admin/workspaces/${process.env.LUNTREX_WORKSPACE_ID}/rates`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_ADMIN_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "tokens_per_bdt": "600",
    "effective_at": "2099-01-01T00:00:00Z",
    "reason": "volume discount"
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

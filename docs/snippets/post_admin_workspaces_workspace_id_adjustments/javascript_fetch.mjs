// Admin Adjustment (POST /api/v1/admin/workspaces/{workspace_id}/adjustments)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/admin/workspaces/${process.env.LUNTREX_WORKSPACE_ID}/adjustments`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_ADMIN_KEY}`, "Idempotency-Key": "example-post_admin_workspaces_workspace_id_adjustments", "Content-Type": "application/json" },
  body: JSON.stringify({
    "tokens": -500,
    "reason": "correction"
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

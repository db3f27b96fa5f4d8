// Create Workspace (POST /api/v1/admin/workspaces)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/admin/workspaces`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_ADMIN_KEY}`, "Content-Type": "application/json" },
  body: JSON.stringify({
    "name": "Acme research",
    "grant_tokens": 1000000
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

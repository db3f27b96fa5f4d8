// Admin Invoice Paid (POST /api/v1/admin/workspaces/{workspace_id}/invoices/{invoice_id}/paid)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/admin/workspaces/${process.env.LUNTREX_WORKSPACE_ID}/invoices/${process.env.LUNTREX_INVOICE_ID}/paid`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_ADMIN_KEY}` },
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

// Delete File (DELETE /api/v1/openai/files/{file_id})
const response = await fetch(process.env.LUNTREX_BASE_URL + `/openai/files/${process.env.LUNTREX_FILE_ID}`, {
  method: "DELETE",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}` },
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

// File Content (GET /api/v1/openai/files/{file_id}/content)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/openai/files/${process.env.LUNTREX_FILE_ID}/content`, {
  method: "GET",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}` },
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
for (const line of (await response.text()).split("\n")) {
  if (line.trim()) console.log(JSON.stringify(JSON.parse(line)));
}

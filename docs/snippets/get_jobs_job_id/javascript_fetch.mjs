// Get Job (GET /api/v1/jobs/{job_id})
const response = await fetch(process.env.LUNTREX_BASE_URL + `/jobs/${process.env.LUNTREX_JOB_ID}`, {
  method: "GET",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}` },
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

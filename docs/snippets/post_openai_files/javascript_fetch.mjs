// Create File (POST /api/v1/openai/files)
// The batch file: one request a line.
const LINES = [
  {
    "custom_id": "request-1",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {
      "model": "openai/gpt-4.1-mini",
      "messages": [
        {
          "role": "user",
          "content": "Name a colour."
        }
      ],
      "max_tokens": 16
    }
  },
  {
    "custom_id": "request-2",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {
      "model": "openai/gpt-4.1-mini",
      "messages": [
        {
          "role": "user",
          "content": "Name a river."
        }
      ],
      "max_tokens": 16
    }
  }
];
const JSONL = LINES.map((line) => JSON.stringify(line) + "\n").join("");
const form = new FormData();
form.append("purpose", "batch");
form.append("file", new Blob([JSONL], { type: "application/jsonl" }), "batch.jsonl");
const response = await fetch(process.env.LUNTREX_BASE_URL + `/openai/files`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}` },
  body: form,  // multipart/form-data, its boundary set by fetch
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

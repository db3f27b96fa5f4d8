// Create Completion (POST /api/v1/chat/completions)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/chat/completions`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Idempotency-Key": "example-post_chat_completions", "Content-Type": "application/json" },
  body: JSON.stringify({
    "model": "openai/gpt-4.1-mini",
    "messages": [
      {
        "role": "user",
        "content": "Write a short rhyming poem about the ocean."
      }
    ],
    "max_tokens": 512
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

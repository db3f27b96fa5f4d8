// Create Chat Completion (POST /api/v1/openai/chat/completions)
const response = await fetch(process.env.LUNTREX_BASE_URL + `/openai/chat/completions`, {
  method: "POST",
  headers: { "Authorization": `Bearer ${process.env.LUNTREX_API_KEY}`, "Idempotency-Key": "example-post_openai_chat_completions", "Content-Type": "application/json" },
  body: JSON.stringify({
    "model": "openai/gpt-4.1-mini",
    "messages": [
      {
        "role": "user",
        "content": "Say hello in five words."
      }
    ],
    "max_tokens": 32
  }),
});
if (!response.ok) {
  throw new Error(`${response.status}: ${await response.text()}`);
}
console.log(response.status === 204 ? response.status : JSON.stringify(await response.json()));

"""Create Completion (POST /api/v1/chat/completions)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.post("/chat/completions", body={
    "model": "openai/gpt-4.1-mini",
    "messages": [
        {
            "role": "user",
            "content": "Write a short rhyming poem about the ocean."
        }
    ],
    "max_tokens": 512
}, options={"headers": {"Idempotency-Key": "example-post_chat_completions"}}, cast_to=object)
print(json.dumps(answer))

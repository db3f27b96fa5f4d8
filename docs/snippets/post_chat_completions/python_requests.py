"""Create Completion (POST /api/v1/chat/completions)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/chat/completions",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"], "Idempotency-Key": "example-post_chat_completions"},
    json={
        "model": "openai/gpt-4.1-mini",
        "messages": [
            {
                "role": "user",
                "content": "Write a short rhyming poem about the ocean."
            }
        ],
        "max_tokens": 512
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

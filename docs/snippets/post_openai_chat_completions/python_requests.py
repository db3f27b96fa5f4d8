"""Create Chat Completion (POST /api/v1/openai/chat/completions)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/openai/chat/completions",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"], "Idempotency-Key": "example-post_openai_chat_completions"},
    json={
        "model": "openai/gpt-4.1-mini",
        "messages": [
            {
                "role": "user",
                "content": "Say hello in five words."
            }
        ],
        "max_tokens": 32
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

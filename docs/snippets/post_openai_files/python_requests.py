"""Create File (POST /api/v1/openai/files)"""
import json
import os

import requests

# The batch file: one request a line.
LINES = [
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
]
JSONL = "".join(json.dumps(line) + "\n" for line in LINES)
response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/openai/files",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    data={"purpose": "batch"},
    files={"file": ("batch.jsonl", JSONL.encode(), "application/jsonl")},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

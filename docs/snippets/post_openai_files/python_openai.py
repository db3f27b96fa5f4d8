"""Create File (POST /api/v1/openai/files)"""
import json
import os

from openai import OpenAI

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
client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"] + "/openai", api_key=os.environ["LUNTREX_API_KEY"])
answer = client.files.create(file=("batch.jsonl", JSONL.encode(), "application/jsonl"), purpose="batch")
print(answer.model_dump_json())

"""Create Batch (POST /api/v1/batches)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.post("/batches", body={
    "requests": [
        {
            "custom_id": "request-1",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "openai/gpt-4.1-mini",
                "messages": [
                    {
                        "role": "user",
                        "content": "Hi"
                    }
                ]
            }
        }
    ],
    "completion_window": "24h"
}, cast_to=object)
print(json.dumps(answer))

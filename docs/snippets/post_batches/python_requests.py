"""Create Batch (POST /api/v1/batches)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/batches",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={
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
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

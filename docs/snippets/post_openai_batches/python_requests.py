"""Create Batch (POST /api/v1/openai/batches)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/openai/batches",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={
        "input_file_id": os.environ["LUNTREX_FILE_ID"],
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {
            "project": "docs"
        }
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

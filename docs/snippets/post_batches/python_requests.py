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
            None
        ]
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

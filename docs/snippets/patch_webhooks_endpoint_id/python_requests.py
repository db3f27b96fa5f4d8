"""Update Webhook (PATCH /api/v1/webhooks/{endpoint_id})"""
import json
import os

import requests

response = requests.request(
    "PATCH",
    os.environ["LUNTREX_BASE_URL"] + f"/webhooks/{os.environ['LUNTREX_ENDPOINT_ID']}",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={
        "description": "production receiver (v2)"
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

"""Put Webhook (PUT /api/v1/billing/webhook)"""
import json
import os

import requests

response = requests.request(
    "PUT",
    os.environ["LUNTREX_BASE_URL"] + "/billing/webhook",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={
        "url": os.environ["LUNTREX_WEBHOOK_URL"]
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

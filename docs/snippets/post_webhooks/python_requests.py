"""Create Webhook (POST /api/v1/webhooks)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/webhooks",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

"""Create Webhook (POST /api/v1/webhooks)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/webhooks",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={
        "url": os.environ["LUNTREX_WEBHOOK_URL"],
        "event_types": [
            "job.completed",
            "job.failed"
        ],
        "description": "production receiver"
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

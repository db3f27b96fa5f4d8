"""Rotate Webhook Secret (POST /api/v1/webhooks/{endpoint_id}/rotate-secret)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + f"/webhooks/{os.environ['LUNTREX_ENDPOINT_ID']}/rotate-secret",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={
        "grace_s": 3600
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

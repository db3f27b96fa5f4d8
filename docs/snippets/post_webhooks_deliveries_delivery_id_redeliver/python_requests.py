"""Redeliver (POST /api/v1/webhooks/deliveries/{delivery_id}/redeliver)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + f"/webhooks/deliveries/{os.environ['LUNTREX_DELIVERY_ID']}/redeliver",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

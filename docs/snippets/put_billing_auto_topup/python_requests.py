"""Put Auto Topup (PUT /api/v1/billing/auto-topup)"""
import json
import os

import requests

response = requests.request(
    "PUT",
    os.environ["LUNTREX_BASE_URL"] + "/billing/auto-topup",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={
        "threshold_tokens": 50000,
        "amount_bdt": "500",
        "method": "invoice"
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

"""Post Alert Threshold (POST /api/v1/billing/alert-thresholds)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/billing/alert-thresholds",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={
        "kind": "absolute",
        "threshold_tokens": 10000
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

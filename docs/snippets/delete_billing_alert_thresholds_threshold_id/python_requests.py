"""Delete Alert Threshold (DELETE /api/v1/billing/alert-thresholds/{threshold_id})"""
import json
import os

import requests

response = requests.request(
    "DELETE",
    os.environ["LUNTREX_BASE_URL"] + f"/billing/alert-thresholds/{os.environ['LUNTREX_THRESHOLD_ID']}",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

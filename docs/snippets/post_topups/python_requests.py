"""Post Topup (POST /api/v1/topups)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/topups",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"], "Idempotency-Key": "example-post_topups"},
    json={
        "amount_bdt": "250.50",
        "method": "invoice"
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

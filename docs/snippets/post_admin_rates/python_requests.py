"""Admin Platform Rate (POST /api/v1/admin/rates)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/admin/rates",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    json={
        "tokens_per_bdt": "520",
        "effective_at": os.environ["LUNTREX_EFFECTIVE_AT"],
        "reason": "new platform rate"
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

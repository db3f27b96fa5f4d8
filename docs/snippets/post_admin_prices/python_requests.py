"""Admin Price (POST /api/v1/admin/prices)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/admin/prices",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    json={
        "model_id": "openai/gpt-4.1-mini",
        "input_multiplier": "3/4",
        "output_multiplier": "1",
        "effective_at": os.environ["LUNTREX_EFFECTIVE_AT"]
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

"""Show Guardrails (GET /api/v1/guardrails)"""
import json
import os

import requests

response = requests.request(
    "GET",
    os.environ["LUNTREX_BASE_URL"] + "/guardrails",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

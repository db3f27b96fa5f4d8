"""Show Key Guardrails (GET /api/v1/keys/{key_id}/guardrails)"""
import json
import os

import requests

response = requests.request(
    "GET",
    os.environ["LUNTREX_BASE_URL"] + f"/keys/{os.environ['LUNTREX_KEY_ID']}/guardrails",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

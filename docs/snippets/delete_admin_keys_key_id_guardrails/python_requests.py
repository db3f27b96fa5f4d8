"""Clear Key Guardrails (DELETE /api/v1/admin/keys/{key_id}/guardrails)"""
import json
import os

import requests

response = requests.request(
    "DELETE",
    os.environ["LUNTREX_BASE_URL"] + f"/admin/keys/{os.environ['LUNTREX_KEY_ID']}/guardrails",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

"""Grant Credit (POST /api/v1/admin/workspaces/{workspace_id}/grants)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + f"/admin/workspaces/{os.environ['LUNTREX_WORKSPACE_ID']}/grants",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    json={
        "tokens": 5000,
        "reason": "goodwill"
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

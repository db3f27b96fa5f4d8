"""Create Workspace (POST /api/v1/admin/workspaces)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/admin/workspaces",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    json={
        "name": "Acme research",
        "grant_tokens": 1000000
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

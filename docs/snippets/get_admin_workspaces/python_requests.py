"""List Workspaces (GET /api/v1/admin/workspaces)"""
import json
import os

import requests

response = requests.request(
    "GET",
    os.environ["LUNTREX_BASE_URL"] + "/admin/workspaces",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

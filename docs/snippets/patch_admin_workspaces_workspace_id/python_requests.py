"""Update Workspace (PATCH /api/v1/admin/workspaces/{workspace_id})"""
import json
import os

import requests

response = requests.request(
    "PATCH",
    os.environ["LUNTREX_BASE_URL"] + f"/admin/workspaces/{os.environ['LUNTREX_WORKSPACE_ID']}",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    json={
        "name": "Acme research lab",
        "rpm_max": 600
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

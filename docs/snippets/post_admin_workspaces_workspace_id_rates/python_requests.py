"""Admin Workspace Rate (POST /api/v1/admin/workspaces/{workspace_id}/rates)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + f"/admin/workspaces/{os.environ['LUNTREX_WORKSPACE_ID']}/rates",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    json={
        "tokens_per_bdt": "600",
        "effective_at": "2099-01-01T00:00:00Z",
        "reason": "volume discount"
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

"""Admin Topup (POST /api/v1/admin/workspaces/{workspace_id}/topups)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + f"/admin/workspaces/{os.environ['LUNTREX_WORKSPACE_ID']}/topups",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"], "Idempotency-Key": "example-post_admin_workspaces_workspace_id_topups"},
    json={
        "amount_paisa": 25050,
        "method": "card"
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

"""Admin Adjustment (POST /api/v1/admin/workspaces/{workspace_id}/adjustments)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + f"/admin/workspaces/{os.environ['LUNTREX_WORKSPACE_ID']}/adjustments",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"], "Idempotency-Key": "example-post_admin_workspaces_workspace_id_adjustments"},
    json={
        "tokens": -500,
        "reason": "correction"
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

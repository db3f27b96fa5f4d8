"""Admin Refund (POST /api/v1/admin/workspaces/{workspace_id}/refunds)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + f"/admin/workspaces/{os.environ['LUNTREX_WORKSPACE_ID']}/refunds",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    json={
        "job_id": os.environ["LUNTREX_JOB_ID"],
        "reason": "bad answer"
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

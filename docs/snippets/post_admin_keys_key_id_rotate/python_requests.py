"""Rotate Key (POST /api/v1/admin/keys/{key_id}/rotate)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + f"/admin/keys/{os.environ['LUNTREX_KEY_ID']}/rotate",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    json={
        "grace_s": 60
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

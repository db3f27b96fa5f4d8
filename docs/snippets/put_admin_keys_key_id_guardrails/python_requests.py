"""Set Key Guardrails (PUT /api/v1/admin/keys/{key_id}/guardrails)"""
import json
import os

import requests

response = requests.request(
    "PUT",
    os.environ["LUNTREX_BASE_URL"] + f"/admin/keys/{os.environ['LUNTREX_KEY_ID']}/guardrails",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    json={
        "allowed_models": [
            "openai/gpt-4.1-mini"
        ],
        "deny": [
            {
                "name": "codenames",
                "keywords": [
                    "Project Falcon"
                ]
            }
        ]
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

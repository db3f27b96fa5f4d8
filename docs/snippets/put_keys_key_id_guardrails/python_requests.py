"""Set Key Guardrails (PUT /api/v1/keys/{key_id}/guardrails)"""
import json
import os

import requests

response = requests.request(
    "PUT",
    os.environ["LUNTREX_BASE_URL"] + f"/keys/{os.environ['LUNTREX_KEY_ID']}/guardrails",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={
        "max_prompt_chars": 8000,
        "deny": [
            {
                "name": "api-secrets",
                "pattern": "sk-[A-Za-z0-9]{20,}"
            },
            {
                "name": "tickets",
                "keywords": [
                    "ACME"
                ]
            }
        ],
        "redact": [
            "email"
        ]
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

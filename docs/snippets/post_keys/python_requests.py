"""Create Key (POST /api/v1/keys)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + "/keys",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={
        "name": "ci",
        "scopes": [
            "inference"
        ],
        "rpm_max": 60,
        "guardrails": {
            "deny": [
                {
                    "name": "api-secrets",
                    "pattern": "sk-[A-Za-z0-9]{20,}"
                }
            ],
            "redact": [
                "email"
            ]
        }
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

"""Set Guardrails (PUT /api/v1/guardrails)"""
import json
import os

import requests

response = requests.request(
    "PUT",
    os.environ["LUNTREX_BASE_URL"] + "/guardrails",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    json={
        "allowed_models": [
            "openai/gpt-4.1-mini",
            "gemini-2.5-flash"
        ],
        "max_prompt_chars": 50000,
        "deny": [
            {
                "name": "codenames",
                "keywords": [
                    "Project Falcon",
                    "Bluebird"
                ]
            },
            {
                "name": "us-ssn",
                "pattern": "\\b\\d{3}-\\d{2}-\\d{4}\\b"
            }
        ],
        "redact": [
            "email",
            "phone",
            "card"
        ]
    },
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

"""Create Key (POST /api/v1/keys)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.post("/keys", body={
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
}, cast_to=object)
print(json.dumps(answer))

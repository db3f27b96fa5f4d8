"""Set Key Guardrails (PUT /api/v1/keys/{key_id}/guardrails)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.put(f"/keys/{os.environ['LUNTREX_KEY_ID']}/guardrails", body={
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
}, cast_to=object)
print(json.dumps(answer))

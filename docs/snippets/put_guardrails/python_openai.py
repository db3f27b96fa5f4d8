"""Set Guardrails (PUT /api/v1/guardrails)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.put("/guardrails", body={
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
}, cast_to=object)
print(json.dumps(answer))

"""Set Key Guardrails (PUT /api/v1/admin/keys/{key_id}/guardrails)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.put(f"/admin/keys/{os.environ['LUNTREX_KEY_ID']}/guardrails", body={
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
}, cast_to=object)
print(json.dumps(answer))

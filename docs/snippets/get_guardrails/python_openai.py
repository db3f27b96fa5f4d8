"""Show Guardrails (GET /api/v1/guardrails)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.get("/guardrails", cast_to=object)
print(json.dumps(answer))

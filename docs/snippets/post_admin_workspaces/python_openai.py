"""Create Workspace (POST /api/v1/admin/workspaces)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.post("/admin/workspaces", body={
    "name": "Acme research",
    "grant_tokens": 1000000
}, cast_to=object)
print(json.dumps(answer))

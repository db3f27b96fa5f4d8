"""List Workspaces (GET /api/v1/admin/workspaces)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.get("/admin/workspaces", cast_to=object)
print(json.dumps(answer))

"""List Keys (GET /api/v1/admin/workspaces/{workspace_id}/keys)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.get(f"/admin/workspaces/{os.environ['LUNTREX_WORKSPACE_ID']}/keys", cast_to=object)
print(json.dumps(answer))

"""Grant Credit (POST /api/v1/admin/workspaces/{workspace_id}/grants)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.post(f"/admin/workspaces/{os.environ['LUNTREX_WORKSPACE_ID']}/grants", body={
    "tokens": 5000,
    "reason": "goodwill"
}, cast_to=object)
print(json.dumps(answer))

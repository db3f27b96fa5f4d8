"""Admin Workspace Rate (POST /api/v1/admin/workspaces/{workspace_id}/rates)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.post(f"/admin/workspaces/{os.environ['LUNTREX_WORKSPACE_ID']}/rates", body={
    "tokens_per_bdt": "600",
    "effective_at": "2099-01-01T00:00:00Z",
    "reason": "volume discount"
}, cast_to=object)
print(json.dumps(answer))

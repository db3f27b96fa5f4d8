"""Admin Adjustment (POST /api/v1/admin/workspaces/{workspace_id}/adjustments)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.post(f"/admin/workspaces/{os.environ['LUNTREX_WORKSPACE_ID']}/adjustments", body={
    "tokens": -500,
    "reason": "correction"
}, options={"headers": {"Idempotency-Key": "example-post_admin_workspaces_workspace_id_adjustments"}}, cast_to=object)
print(json.dumps(answer))

"""Admin Refund (POST /api/v1/admin/workspaces/{workspace_id}/refunds)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.post(f"/admin/workspaces/{os.environ['LUNTREX_WORKSPACE_ID']}/refunds", body={
    "job_id": os.environ["LUNTREX_JOB_ID"],
    "reason": "bad answer"
}, cast_to=object)
print(json.dumps(answer))

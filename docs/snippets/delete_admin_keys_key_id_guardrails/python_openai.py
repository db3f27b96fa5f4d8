"""Clear Key Guardrails (DELETE /api/v1/admin/keys/{key_id}/guardrails)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.delete(f"/admin/keys/{os.environ['LUNTREX_KEY_ID']}/guardrails", cast_to=object)
print(json.dumps(answer))

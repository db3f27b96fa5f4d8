"""Cancel Batch (POST /api/v1/admin/batches/{batch_id}/cancel)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.post(f"/admin/batches/{os.environ['LUNTREX_BATCH_ID']}/cancel", cast_to=object)
print(json.dumps(answer))

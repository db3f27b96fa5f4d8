"""Get Results (GET /api/v1/batches/{batch_id}/results)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.get(f"/batches/{os.environ['LUNTREX_BATCH_ID']}/results", cast_to=object)
print(json.dumps(answer))

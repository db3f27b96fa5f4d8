"""Get Results (GET /api/v1/batches/{batch_id}/results)"""
import json
import os

import httpx
from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.get(f"/batches/{os.environ['LUNTREX_BATCH_ID']}/results", cast_to=httpx.Response)
for line in answer.iter_lines():
    if line.strip():
        print(json.dumps(json.loads(line)))

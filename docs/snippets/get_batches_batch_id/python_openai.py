"""Get Batch (GET /api/v1/batches/{batch_id})"""
import json
import os
import time

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
for attempt in range(240):
    answer = client.get(f"/batches/{os.environ['LUNTREX_BATCH_ID']}", cast_to=object)
    if answer["status"] in ('completed', 'cancelled', 'expired'):
        break
    time.sleep(0.5)
print(json.dumps(answer))

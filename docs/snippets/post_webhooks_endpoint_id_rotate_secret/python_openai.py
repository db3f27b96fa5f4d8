"""Rotate Webhook Secret (POST /api/v1/webhooks/{endpoint_id}/rotate-secret)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.post(f"/webhooks/{os.environ['LUNTREX_ENDPOINT_ID']}/rotate-secret", body={
    "grace_s": 3600
}, cast_to=object)
print(json.dumps(answer))

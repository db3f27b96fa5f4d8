"""Rotate Key (POST /api/v1/keys/{key_id}/rotate)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.post(f"/keys/{os.environ['LUNTREX_KEY_ID']}/rotate", body={
    "grace_s": 600
}, cast_to=object)
print(json.dumps(answer))

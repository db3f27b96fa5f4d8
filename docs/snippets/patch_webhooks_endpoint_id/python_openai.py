"""Update Webhook (PATCH /api/v1/webhooks/{endpoint_id})"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.patch(f"/webhooks/{os.environ['LUNTREX_ENDPOINT_ID']}", body={
    "description": "production receiver (v2)"
}, cast_to=object)
print(json.dumps(answer))

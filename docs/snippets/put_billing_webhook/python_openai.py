"""Put Webhook (PUT /api/v1/billing/webhook)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.put("/billing/webhook", body={
    "url": os.environ["LUNTREX_WEBHOOK_URL"]
}, cast_to=object)
print(json.dumps(answer))

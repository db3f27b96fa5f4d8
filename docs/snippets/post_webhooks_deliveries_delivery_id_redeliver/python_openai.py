"""Redeliver (POST /api/v1/webhooks/deliveries/{delivery_id}/redeliver)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.post(f"/webhooks/deliveries/{os.environ['LUNTREX_DELIVERY_ID']}/redeliver", cast_to=object)
print(json.dumps(answer))

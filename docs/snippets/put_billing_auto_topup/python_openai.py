"""Put Auto Topup (PUT /api/v1/billing/auto-topup)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.put("/billing/auto-topup", body={
    "threshold_tokens": 50000,
    "amount_bdt": "500",
    "method": "invoice"
}, cast_to=object)
print(json.dumps(answer))

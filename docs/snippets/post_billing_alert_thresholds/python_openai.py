"""Post Alert Threshold (POST /api/v1/billing/alert-thresholds)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.post("/billing/alert-thresholds", body={
    "kind": "absolute",
    "threshold_tokens": 10000
}, cast_to=object)
print(json.dumps(answer))

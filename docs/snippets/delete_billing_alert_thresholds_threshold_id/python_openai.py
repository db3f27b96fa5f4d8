"""Delete Alert Threshold (DELETE /api/v1/billing/alert-thresholds/{threshold_id})"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.delete(f"/billing/alert-thresholds/{os.environ['LUNTREX_THRESHOLD_ID']}", cast_to=object)
print(json.dumps(answer))

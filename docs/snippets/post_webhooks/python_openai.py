"""Create Webhook (POST /api/v1/webhooks)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.post("/webhooks", body={
    "url": os.environ["LUNTREX_WEBHOOK_URL"],
    "event_types": [
        "job.completed",
        "job.failed"
    ],
    "description": "production receiver"
}, cast_to=object)
print(json.dumps(answer))

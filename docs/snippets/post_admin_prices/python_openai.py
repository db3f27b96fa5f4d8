"""Admin Price (POST /api/v1/admin/prices)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.post("/admin/prices", body={
    "model_id": "openai/gpt-4.1-mini",
    "input_multiplier": "3/4",
    "output_multiplier": "1",
    "effective_at": os.environ["LUNTREX_EFFECTIVE_AT"]
}, cast_to=object)
print(json.dumps(answer))

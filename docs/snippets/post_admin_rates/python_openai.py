"""Admin Platform Rate (POST /api/v1/admin/rates)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
answer = client.post("/admin/rates", body={
    "tokens_per_bdt": "520",
    "effective_at": os.environ["LUNTREX_EFFECTIVE_AT"],
    "reason": "new platform rate"
}, cast_to=object)
print(json.dumps(answer))

"""Create Batch (POST /api/v1/openai/batches)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.post("/openai/batches", body={
    "input_file_id": "example",
    "endpoint": "/v1/chat/completions"
}, cast_to=object)
print(json.dumps(answer))

"""Retrieve Model (GET /api/v1/openai/models/{model_id})"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.get(f"/openai/models/{os.environ['LUNTREX_MODEL_ID']}", cast_to=object)
print(json.dumps(answer))

"""List Batches (GET /api/v1/openai/batches)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"] + "/openai", api_key=os.environ["LUNTREX_API_KEY"])
answer = client.batches.list()
print(answer.model_dump_json())

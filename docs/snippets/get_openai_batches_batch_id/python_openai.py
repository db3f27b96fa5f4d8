"""Retrieve Batch (GET /api/v1/openai/batches/{batch_id})"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"] + "/openai", api_key=os.environ["LUNTREX_API_KEY"])
answer = client.batches.retrieve(os.environ["LUNTREX_BATCH_ID"])
print(answer.model_dump_json())

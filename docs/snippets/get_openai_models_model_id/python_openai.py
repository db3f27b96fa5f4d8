"""Retrieve Model (GET /api/v1/openai/models/{model_id})"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"] + "/openai", api_key=os.environ["LUNTREX_API_KEY"])
answer = client.models.retrieve(os.environ["LUNTREX_MODEL_ID"])
print(answer.model_dump_json())

"""Create Chat Completion (POST /api/v1/openai/chat/completions)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"] + "/openai", api_key=os.environ["LUNTREX_API_KEY"])
answer = client.chat.completions.create(model="openai/gpt-4.1-mini", messages=[
    {
        "role": "user",
        "content": "Say hello in five words."
    }
], max_tokens=32)
print(answer.model_dump_json())

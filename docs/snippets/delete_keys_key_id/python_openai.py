"""Revoke Key (DELETE /api/v1/keys/{key_id})"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
client.delete(f"/keys/{os.environ['LUNTREX_KEY_ID']}", cast_to=type(None))
print("done")

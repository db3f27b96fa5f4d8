"""Revoke Key (DELETE /api/v1/admin/keys/{key_id})"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_ADMIN_KEY"])
client.delete(f"/admin/keys/{os.environ['LUNTREX_KEY_ID']}", cast_to=type(None))
print("done")

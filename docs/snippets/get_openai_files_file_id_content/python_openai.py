"""File Content (GET /api/v1/openai/files/{file_id}/content)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.get(f"/openai/files/{os.environ['LUNTREX_FILE_ID']}/content", cast_to=object)
print(json.dumps(answer))

"""File Content (GET /api/v1/openai/files/{file_id}/content)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"] + "/openai", api_key=os.environ["LUNTREX_API_KEY"])
answer = client.files.content(os.environ["LUNTREX_FILE_ID"])
for line in answer.iter_lines():
    if line.strip():
        print(json.dumps(json.loads(line)))

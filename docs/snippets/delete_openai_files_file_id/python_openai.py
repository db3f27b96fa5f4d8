"""Delete File (DELETE /api/v1/openai/files/{file_id})"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"] + "/openai", api_key=os.environ["LUNTREX_API_KEY"])
answer = client.files.delete(os.environ["LUNTREX_FILE_ID"])
print(answer.model_dump_json())

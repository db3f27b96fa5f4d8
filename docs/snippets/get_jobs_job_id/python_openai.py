"""Get Job (GET /api/v1/jobs/{job_id})"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"], api_key=os.environ["LUNTREX_API_KEY"])
answer = client.get(f"/jobs/{os.environ['LUNTREX_JOB_ID']}", cast_to=object)
print(json.dumps(answer))

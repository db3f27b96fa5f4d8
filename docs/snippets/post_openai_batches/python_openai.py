"""Create Batch (POST /api/v1/openai/batches)"""
import json
import os

from openai import OpenAI

client = OpenAI(base_url=os.environ["LUNTREX_BASE_URL"] + "/openai", api_key=os.environ["LUNTREX_API_KEY"])
answer = client.batches.create(input_file_id=os.environ["LUNTREX_FILE_ID"], endpoint="/v1/chat/completions", completion_window="24h", metadata={
    "project": "docs"
})
print(answer.model_dump_json())

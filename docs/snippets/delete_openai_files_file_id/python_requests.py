"""Delete File (DELETE /api/v1/openai/files/{file_id})"""
import json
import os

import requests

response = requests.request(
    "DELETE",
    os.environ["LUNTREX_BASE_URL"] + f"/openai/files/{os.environ['LUNTREX_FILE_ID']}",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

"""List Files (GET /api/v1/openai/files)"""
import json
import os

import requests

response = requests.request(
    "GET",
    os.environ["LUNTREX_BASE_URL"] + "/openai/files",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

"""Retrieve Batch (GET /api/v1/openai/batches/{batch_id})"""
import json
import os

import requests

response = requests.request(
    "GET",
    os.environ["LUNTREX_BASE_URL"] + f"/openai/batches/{os.environ['LUNTREX_BATCH_ID']}",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

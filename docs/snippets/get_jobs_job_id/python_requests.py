"""Get Job (GET /api/v1/jobs/{job_id})"""
import json
import os

import requests

response = requests.request(
    "GET",
    os.environ["LUNTREX_BASE_URL"] + f"/jobs/{os.environ['LUNTREX_JOB_ID']}",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

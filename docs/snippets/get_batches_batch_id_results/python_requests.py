"""Get Results (GET /api/v1/batches/{batch_id}/results)"""
import json
import os

import requests

response = requests.request(
    "GET",
    os.environ["LUNTREX_BASE_URL"] + f"/batches/{os.environ['LUNTREX_BATCH_ID']}/results",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
    stream=True,  # JSON lines: read each line as it arrives
    timeout=120,
)
response.raise_for_status()
for line in response.iter_lines(decode_unicode=True):
    if line.strip():
        print(json.dumps(json.loads(line)))

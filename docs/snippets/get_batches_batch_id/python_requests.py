"""Get Batch (GET /api/v1/batches/{batch_id})"""
import json
import os
import time

import requests

for attempt in range(240):
    response = requests.request(
        "GET",
        os.environ["LUNTREX_BASE_URL"] + f"/batches/{os.environ['LUNTREX_BATCH_ID']}",
        headers={"Authorization": "Bearer " + os.environ["LUNTREX_API_KEY"]},
        timeout=120,
    )
    response.raise_for_status()
    if response.json()["status"] in ('completed', 'cancelled', 'expired'):
        break
    time.sleep(0.5)
print(json.dumps(response.json()))

"""Cancel Batch (POST /api/v1/admin/batches/{batch_id}/cancel)"""
import json
import os

import requests

response = requests.request(
    "POST",
    os.environ["LUNTREX_BASE_URL"] + f"/admin/batches/{os.environ['LUNTREX_BATCH_ID']}/cancel",
    headers={"Authorization": "Bearer " + os.environ["LUNTREX_ADMIN_KEY"]},
    timeout=120,
)
response.raise_for_status()
print(json.dumps(response.json()))

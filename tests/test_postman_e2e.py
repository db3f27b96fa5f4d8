"""The generated Postman collection runs end to end with newman against the real stack, and every request
passes its tests (status, and the answer validated against the documented schema; a JSON-lines answer line by
line), the multipart upload and the waited-for batch included."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ingress import apidocs
from ingress.apidocs import walkthrough
from stack import node_tools
from tests.conftest import ADMIN_KEY, Stack

NEWMAN_TIMEOUT_S = 600


def test_newman_runs_the_whole_collection(stack: Stack, tmp_path: Path) -> None:
    newman = node_tools.newman_bin(node_tools.ensure())
    report = tmp_path / "newman.json"
    done = subprocess.run(
        [
            str(newman),
            "run",
            str(apidocs.POSTMAN_PATH),
            "--environment",
            str(apidocs.ENVIRONMENT_PATH),
            "--env-var",
            f"baseUrl={stack.base_url}",
            "--env-var",
            f"adminKey={ADMIN_KEY}",
            # The upload step's file (`src`) is named relative to docs/, where the collection is.
            "--working-dir",
            str(apidocs.DOCS),
            "--timeout-request",
            "120000",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--color",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=NEWMAN_TIMEOUT_S,
        check=False,
    )
    assert report.is_file(), f"newman wrote no report: {done.stderr[-3000:]}\n{done.stdout[-3000:]}"
    run = json.loads(report.read_text())["run"]
    failures = [f"{failure['source'].get('name')}: {failure['error'].get('message')}" for failure in run["failures"]]
    assert failures == [], done.stdout[-6000:]
    assert done.returncode == 0, done.stdout[-6000:]
    openapi = json.loads(apidocs.OPENAPI_PATH.read_text())
    operations = [step.operation for step in walkthrough.walk(openapi)]
    documented = sum(len(item) for item in openapi["paths"].values())
    assert walkthrough.NOT_WALKED == {} and len(operations) == documented  # every operation is walked
    executed = [execution["item"]["name"] for execution in run["executions"]]
    assert list(dict.fromkeys(executed)) == [
        item["name"] for item in json.loads(apidocs.POSTMAN_PATH.read_text())["item"]
    ]
    assert all(any(name.endswith(f"({operation})") for name in executed) for operation in operations)
    passed = [
        assertion["assertion"]
        for execution in run["executions"]
        for assertion in execution.get("assertions", [])
        if not assertion.get("error") and not assertion.get("skipped")
    ]
    # The native results, the uploaded file's content: JSON lines, read line by line.
    assert passed.count("the answer is JSON lines") == 2
    assert passed.count("status reaches one of completed, cancelled, expired") == 1
    stats = run["stats"]
    assert stats["requests"]["total"] >= len(operations)  # a waited-for batch is asked again until it finishes
    assert stats["requests"]["failed"] == 0
    assert stats["assertions"]["failed"] == 0
    assert stats["assertions"]["total"] >= 2 * len(operations) - 3  # a status and a schema check each (204: status)

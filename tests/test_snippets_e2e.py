"""The generated snippets work: each flavour walks every operation against the real stack in its own workspace
(created by its own snippet through the admin API), carrying ids from one answer to the next as a reader would:
the multipart upload of a batch file, the batch it becomes, and the JSON-lines answers (each printed line must be
a JSON object naming its request; at least one) included.

Python (`requests`, `openai`), JavaScript (`fetch`, the `openai` npm package) and cURL always run. PHP's plain
`curl` snippets run and the Laravel ones are syntax-checked when `php` is installed (`make test` installs
Debian's `php-cli` when it runs as root); Laravel itself comes from Packagist, which this machine cannot reach,
so its snippets are not executed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingress import apidocs
from ingress.apidocs import postman, walkthrough
from ingress.apidocs.snippets import slug_of
from stack import node_tools
from tests.conftest import ADMIN_KEY, Stack

SNIPPET_TIMEOUT_S = 120
RUNNER_TIMEOUT_S = 900
PARALLEL_FLAVOURS = 3
PHP = shutil.which("php")
PYTHON_RUNNER = Path(__file__).with_name("snippet_runner.py")
NODE_RUNNER = Path(__file__).parent / "node" / "snippet_runner.mjs"


def _env(stack: Stack) -> dict[str, str]:
    # A rate or price version per walk, each at its own moment far ahead (walkthrough.GENERATED_VARIABLES).
    effective_at = datetime(2099, 1, 1, tzinfo=UTC) + timedelta(seconds=secrets.randbelow(10**9))
    return os.environ | {
        "LUNTREX_BASE_URL": stack.base_url,
        "LUNTREX_ADMIN_KEY": ADMIN_KEY,
        "LUNTREX_WEBHOOK_URL": postman.DEFAULT_WEBHOOK_URL,
        "LUNTREX_MODEL_ID": walkthrough.MODEL_ID,
        "LUNTREX_EFFECTIVE_AT": effective_at.isoformat().replace("+00:00", "Z"),
    }


def _plan(filename: str, copy_to: Path | None = None) -> list[dict[str, Any]]:
    """Every operation's snippet of one flavour in the walk's order, with the answer fields it carries on."""
    openapi = json.loads(apidocs.OPENAPI_PATH.read_text())
    plan = []
    for step in walkthrough.walk(openapi):
        path = apidocs.SNIPPETS_DIR / slug_of(step.operation) / filename
        if copy_to is not None:
            # An ES module resolves `openai` from the node_modules above its own file.
            path = Path(shutil.copyfile(path, copy_to / f"{slug_of(step.operation)}.mjs"))
        captures = {walkthrough.env_name(variable): where for variable, where in step.captures.items()}
        lines = walkthrough.answers_json_lines(walkthrough.operation_of(openapi, step.operation))
        plan.append({"file": str(path), "captures": captures, "json_lines": lines})
    return plan


def json_lines_problem(printed: str) -> str | None:
    """Why a JSON-lines answer's printout is wrong (the runners' check), or None."""
    lines = [line for line in printed.splitlines() if line.strip()]
    if not lines:
        return "printed no JSON line"
    for line in lines:
        try:
            item = json.loads(line)
        except ValueError:
            return f"printed a line that is not JSON: {line[:200]}"
        if not isinstance(item, dict) or walkthrough.JSON_LINE_KEY not in item:
            return f"printed a line that is not a batch line: {line[:200]}"
    return None


def _run_in_one_process(command: list[str], plan: list[dict[str, Any]], stack: Stack) -> list[str]:
    done = subprocess.run(
        command,
        input=json.dumps(plan),
        env=_env(stack),
        capture_output=True,
        text=True,
        timeout=RUNNER_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert [result["file"] for result in results] == [step["file"] for step in plan]
    return [f"{result['file']}: {result['error']}" for result in results if result["error"]]


def _dig(answer: Any, where: str) -> str:
    for part in where.split("."):
        answer = answer[int(part)] if part.isdigit() else answer[part]
    return str(answer)


def _run_one_by_one(interpreter: str, plan: list[dict[str, Any]], stack: Stack) -> list[str]:
    env, failures = _env(stack), []
    for step in plan:
        done = subprocess.run(
            [interpreter, step["file"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=SNIPPET_TIMEOUT_S,
            check=False,
        )
        if done.returncode != 0:
            failures.append(f"{step['file']}: {done.stdout.strip()[-800:]} {done.stderr.strip()[-800:]}")
            continue
        problem = json_lines_problem(done.stdout) if step["json_lines"] else None
        if problem is not None:
            failures.append(f"{step['file']}: {problem}")
            continue
        if step["captures"]:
            answer = json.loads(done.stdout.strip().splitlines()[-1])
            env |= {name: _dig(answer, where) for name, where in step["captures"].items()}
    return failures


def _flavour_runs(stack: Stack, node_dir: Path) -> dict[str, Callable[[], list[str]]]:
    copies = node_dir / "snippet-runs"
    copies.mkdir(exist_ok=True)
    node_runner = Path(shutil.copyfile(NODE_RUNNER, node_dir / NODE_RUNNER.name))
    python, node = [sys.executable, str(PYTHON_RUNNER)], ["node", str(node_runner)]
    runs: dict[str, Callable[[], list[str]]] = {
        "python-requests": lambda: _run_in_one_process(python, _plan("python_requests.py"), stack),
        "python-openai": lambda: _run_in_one_process(python, _plan("python_openai.py"), stack),
        "javascript-fetch": lambda: _run_in_one_process(node, _plan("javascript_fetch.mjs"), stack),
        "javascript-openai": lambda: _run_in_one_process(node, _plan("javascript_openai.mjs", copies), stack),
        "curl": lambda: _run_one_by_one("sh", _plan("curl.sh"), stack),
    }
    if PHP is not None:
        runs["php-curl"] = lambda: _run_one_by_one(str(PHP), _plan("php_curl.php"), stack)
    return runs


def test_python_javascript_and_curl_snippets_run_against_the_stack(stack: Stack) -> None:
    runs = _flavour_runs(stack, node_tools.ensure())
    with ThreadPoolExecutor(PARALLEL_FLAVOURS) as pool:
        futures = {name: pool.submit(run) for name, run in runs.items()}
        failures = {name: future.result() for name, future in futures.items()}
    failed = {name: found for name, found in failures.items() if found}
    assert not failed, json.dumps(failed, indent=1)


def test_php_snippets_are_valid_php() -> None:
    if PHP is None:
        pytest.skip("php is not installed: `make test` installs Debian's php-cli when it runs as root")
    files = sorted(apidocs.SNIPPETS_DIR.rglob("*.php"))
    assert len(files) >= 2 * 30
    broken = []
    for path in files:
        done = subprocess.run([PHP, "-l", str(path)], capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            broken.append(f"{path}: {done.stdout.strip()}")
    assert broken == []

"""Runs Python snippet files in order in one interpreter (`python tests/snippet_runner.py < plan.json`).

Starting an interpreter and importing `openai` per snippet costs seconds on a loaded 2-core machine; each file
still runs as a script (`runpy`, `__main__`), with the environment that the earlier answers filled in. The plan
is a JSON list of `{"file", "captures": {ENV_NAME: "dotted.path"}, "json_lines": bool}`; the answer is one JSON
list of `{"file", "error"}` on the last line of stdout. A JSON-lines step must print at least one line, each a JSON
object with a `custom_id` (the batch lines the API answers in JSON lines).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
import traceback
from typing import Any


def dig(answer: Any, where: str) -> str:
    for part in where.split("."):
        answer = answer[int(part)] if part.isdigit() else answer[part]
    return str(answer)


def check_json_lines(printed: str) -> None:
    lines = [line for line in printed.splitlines() if line.strip()]
    if not lines:
        raise AssertionError("printed no JSON line")
    for line in lines:
        item = json.loads(line)
        if not isinstance(item, dict) or "custom_id" not in item:
            raise AssertionError(f"printed a line that is not a batch line: {line[:200]}")


def main() -> None:
    results = []
    for step in json.load(sys.stdin):
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                runpy.run_path(step["file"], run_name="__main__")
            if step.get("json_lines"):
                check_json_lines(printed.getvalue())
            if step["captures"]:
                answer = json.loads(printed.getvalue().strip().splitlines()[-1])
                for env, where in step["captures"].items():
                    os.environ[env] = dig(answer, where)
        except BaseException:  # noqa: BLE001 - a snippet's failure, SystemExit included, is reported, not raised
            results.append({"file": step["file"], "error": traceback.format_exc()[-1500:]})
            continue
        results.append({"file": step["file"], "error": None})
    print(json.dumps(results))


if __name__ == "__main__":
    main()

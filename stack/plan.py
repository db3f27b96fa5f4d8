"""The supervisor's plan: which processes to keep running, each one's environment, and the restart policy.

``up`` writes it to ``<run_dir>/supervisor.plan.json`` (0600: it holds the services' settings) and the
supervisor reads it once at start, so the supervisor itself knows nothing about the project's services.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stack import envfile
from stack.processes import Process


@dataclass(frozen=True)
class RestartPolicy:
    """Bounded exponential backoff: a process that keeps dying is retried ever more slowly, never given up."""

    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    # A process that ran this long before exiting was healthy: its next restart starts the backoff over.
    stable_after_s: float = 60.0

    def delay_s(self, quick_exits: int) -> float:
        """The wait before the next start, after ``quick_exits`` exits in a row that came too soon."""
        return float(min(self.backoff_initial_s * 2 ** min(quick_exits, 32), self.backoff_max_s))


@dataclass(frozen=True)
class Entry:
    process: Process
    env: dict[str, str]


@dataclass(frozen=True)
class Plan:
    entries: tuple[Entry, ...]
    policy: RestartPolicy = field(default_factory=RestartPolicy)


def plan_path(run_dir: Path) -> Path:
    return run_dir / "supervisor.plan.json"


def write_plan(run_dir: Path, plan: Plan) -> None:
    envfile.write_private(plan_path(run_dir), json.dumps(asdict(plan), indent=2) + "\n")


def read_plan(run_dir: Path) -> Plan:
    raw = json.loads(plan_path(run_dir).read_text())
    entries = tuple(Entry(_process(item["process"]), dict(item["env"])) for item in raw["entries"])
    return Plan(entries=entries, policy=RestartPolicy(**raw["policy"]))


def _process(raw: dict[str, Any]) -> Process:
    return Process(
        name=raw["name"],
        module=raw["module"],
        args=tuple(raw["args"]),
        port=raw["port"],
        health_path=raw["health_path"],
        extra_env=tuple((name, value) for name, value in raw["extra_env"]),
        admin=raw.get("admin", False),
    )

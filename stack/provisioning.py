"""One-shot steps of ``up``: database migrations, topic creation and the demo seed.

Migrations and topic creation are skipped with a warning while the file they need does not exist, so the
stack can be brought up while the services are still under construction.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from stack import envfile
from stack.profiles import REPO_ROOT

MIGRATE_TIMEOUT_S = 180.0
TOPICS_TIMEOUT_S = 120.0
SEED_TIMEOUT_S = 120.0
ALEMBIC_INI = REPO_ROOT / "alembic.ini"


class ProvisioningError(RuntimeError):
    """A one-shot step (migrate, topics, seed) failed; the message carries its output."""


def runnable(name: str) -> bool:
    """True when ``python -m <name>`` has something to run: a module file or a package ``__main__``."""
    path = REPO_ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__main__.py").exists()


def migrate(env: Mapping[str, str]) -> str | None:
    """``alembic upgrade head``, then each service role's grants (``runtime.db_roles``); returns a warning
    instead when there is no alembic.ini yet."""
    if not ALEMBIC_INI.exists():
        return f"skipped migrations: {ALEMBIC_INI.name} does not exist yet"
    _run([sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), "upgrade", "head"], env, MIGRATE_TIMEOUT_S)
    _run([sys.executable, "-m", "runtime.db_roles"], env, MIGRATE_TIMEOUT_S)
    return None


def create_topics(env: Mapping[str, str], kafka_bootstrap: str) -> str | None:
    """``python -m runtime.topics``; returns a warning when that module does not exist yet or a topic's
    configuration differs from the settings."""
    if not runnable("runtime.topics"):
        return "skipped topic creation: runtime.topics does not exist yet (topics are auto-created)"
    output = _run([sys.executable, "-m", "runtime.topics", "--bootstrap", kafka_bootstrap], env, TOPICS_TIMEOUT_S)
    # Existing topics whose configuration differs from the settings (runtime.kafka.config_drift).
    drift = [line.removeprefix("warning: ") for line in output.splitlines() if line.startswith("warning: ")]
    return "\n".join(drift) or None


def seed(env: Mapping[str, str], env_file: Path) -> tuple[dict[str, str], bool]:
    """``python -m stack.seed``: its ``KEY=value`` lines (the demo API key), and whether the key in
    ``env_file`` was reused rather than a new one minted."""
    output = _run([sys.executable, "-m", "stack.seed", "--env-file", str(env_file)], env, SEED_TIMEOUT_S)
    values = envfile.parse(output)
    if "LUNTREX_API_KEY" not in values:
        raise ProvisioningError(f"stack.seed printed no LUNTREX_API_KEY=... line; its output:\n{output}")
    reused = values.pop("LUNTREX_API_KEY_REUSED", "no") == "yes"
    return values, reused


def _run(command: list[str], env: Mapping[str, str], timeout_s: float) -> str:
    """Run a step with the repository root as working directory; its stdout, or an error with both."""
    try:
        result = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ProvisioningError(f"`{' '.join(command[1:])}` did not finish within {timeout_s:.0f}s") from error
    if result.returncode != 0:
        raise ProvisioningError(
            f"`{' '.join(command[1:])}` failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout

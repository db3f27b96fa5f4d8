"""Where each stack profile keeps its files and which ports it listens on.

The dev and test profiles use separate directories and ports so both can run at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO_ROOT / ".cache"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Profile:
    name: str
    run_dir: Path
    kafka_port: int
    kafka_controller_port: int
    postgres_port: int
    # Durability off (fsync, synchronous_commit, full_page_writes): only for throwaway test data.
    postgres_fast: bool

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def services_env_path(self) -> Path:
        return self.run_dir / "services.env"


DEV = Profile(
    name="dev",
    run_dir=REPO_ROOT / ".run",
    kafka_port=9092,
    kafka_controller_port=9093,
    postgres_port=5433,
    postgres_fast=False,
)
TEST = Profile(
    name="test",
    run_dir=REPO_ROOT / ".run" / "test",
    kafka_port=29092,
    kafka_controller_port=29093,
    postgres_port=25433,
    postgres_fast=True,
)
PROFILES = {profile.name: profile for profile in (DEV, TEST)}

"""A background task that dies takes the ledger down loudly, instead of leaving jobs held forever in silence.

The ledger here runs on a book one migration behind its code (no `jobs.deadline_at`): its expiry sweep
fails permanently on every tick. The process must exit non-zero with a critical log, not keep billing
with a dead timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid

import psycopg

from runtime.settings import ServiceSettings
from runtime.topics import topic_plan
from schemas.catalogue import Catalogue
from tests import services
from tests.conftest import Stack
from tests.processes import Service
from tests.services import ROOT
from tests.topic_cleanup import ensure_topics


def test_a_timer_failing_permanently_stops_the_ledger_loudly(stack: Stack, catalogue: Catalogue) -> None:
    admin_url = services.admin_database_url()
    name = f"luntrex_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        subprocess.run(
            [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini"), "upgrade", "0003"],
            cwd=ROOT,
            env={**os.environ, "LUNTREX_DATABASE_URL": url},
            check=True,
        )
        # Its own topics: nothing of the session's history reaches it, and nothing it does reaches the session.
        prefix = f"s{uuid.uuid4().hex[:8]}."
        asyncio.run(ensure_topics(ServiceSettings(kafka_bootstrap_servers=stack.kafka), topic_plan(catalogue, prefix)))
        env = {
            **stack.ledger.env,
            "LUNTREX_DATABASE_URL": url,
            "LUNTREX_TOPIC_PREFIX": prefix,
            "LUNTREX_LEDGER_APP_ID": f"{prefix}ledger",
            "LUNTREX_EXPIRY_SWEEP_INTERVAL_S": "0.3",
        }
        ledger = Service("ledger-behind", ["ledger"], env, stack.ledger.workdir)
        try:
            with contextlib.suppress(RuntimeError):  # it may die before it is ready: that is the point
                ledger.start()
            assert ledger.process is not None
            deadline = time.monotonic() + 60
            while ledger.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert ledger.process.returncode not in (None, 0), ledger.log_tail()
            log = ledger.log_tail(400)
            # Whichever part meets the schema behind first (the price-book seed at start-up, a timer) stops it.
            assert "failed permanently" in log and "CRITICAL" in log
        finally:
            ledger.stop()
    finally:
        services.drop_database(url)

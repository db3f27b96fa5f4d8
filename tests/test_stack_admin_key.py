"""`make up`'s admin credential: minted once, recorded 0600 in stack.env, reused, and given to ingress only.

`make up` itself uses fixed ports other sessions may hold, so its parts are tested here: the key's lifecycle
on a temp env file, the processes' environment and plan, and a real ingress started with a minted key.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path

import httpx

from stack import admin_key, envfile
from stack.plan import Entry, Plan, read_plan, write_plan
from stack.processes import PROCESSES, process_env
from tests.conftest import ADMIN_KEY, Stack
from tests.processes import Service, free_port
from tests.services import ROOT


def test_minted_once_recorded_owner_only_and_reused(tmp_path: Path) -> None:
    env_file = tmp_path / "stack.env"
    envfile.write(env_file, {"LUNTREX_API_KEY": "lx_live_demo"})
    key, reused = admin_key.ensure(env_file)
    assert not reused and len(key) >= 24
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert envfile.read(env_file) == {"LUNTREX_API_KEY": "lx_live_demo", "LUNTREX_ADMIN_KEY": key}
    assert admin_key.ensure(env_file) == (key, True)
    # Two fresh mints never collide.
    assert admin_key.ensure(tmp_path / "other.env")[0] != key


def test_a_short_or_hand_edited_key_is_replaced_and_a_running_ingress_key_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "stack.env"
    envfile.write(env_file, {"LUNTREX_ADMIN_KEY": "too-short"})
    replaced, reused = admin_key.ensure(env_file)
    assert not reused and replaced != "too-short" and len(replaced) >= 24
    running = {"LUNTREX_ADMIN_KEY": "R" * 40}
    assert admin_key.ensure(env_file, running) == ("R" * 40, True)
    assert envfile.read(env_file)["LUNTREX_ADMIN_KEY"] == "R" * 40


def test_only_ingress_gets_the_key_and_the_plan_keeps_who_does(tmp_path: Path) -> None:
    envs = {p.name: process_env(p, tmp_path, "k:9092", "postgresql://x", admin_key="A" * 30) for p in PROCESSES}
    assert {name for name, env in envs.items() if "LUNTREX_ADMIN_KEY" in env} == {"ingress"}
    write_plan(tmp_path, Plan(tuple(Entry(p, envs[p.name]) for p in PROCESSES)))
    plan = read_plan(tmp_path)
    assert [entry.process.name for entry in plan.entries if entry.process.admin] == ["ingress"]
    assert stat.S_IMODE((tmp_path / "supervisor.plan.json").stat().st_mode) == 0o600


def _compose_ingress_admin_key(environment: dict[str, str]) -> str:
    rendered = subprocess.run(
        ["docker-compose", "config"], cwd=ROOT, env=environment, capture_output=True, text=True, check=True
    ).stdout
    ingress = rendered.split("\n  ingress:\n", 1)[1].split("\n  kafka", 1)[0]
    line = next(line for line in ingress.splitlines() if "LUNTREX_ADMIN_KEY" in line)
    return line.split(":", 1)[1].strip().strip("'\"")


def test_docker_compose_passes_the_key_from_the_environment_and_closes_the_admin_api_without_it() -> None:
    # `make test` installs docker-compose (compose-check) before pytest runs.
    base = {k: v for k, v in os.environ.items() if k != "LUNTREX_ADMIN_KEY"}
    key = "k" * 32
    assert _compose_ingress_admin_key({**base, "LUNTREX_ADMIN_KEY": key}) == key
    assert _compose_ingress_admin_key(base) == ""


async def test_an_ingress_started_with_a_minted_key_serves_the_admin_api_with_it(stack: Stack) -> None:
    key, _ = admin_key.ensure(Path(tempfile.mkdtemp(prefix="luntrex-admin-")) / "stack.env")
    ingress = next(p for p in PROCESSES if p.admin)
    admin_env = {
        k: v
        for k, v in process_env(ingress, Path("."), "", "postgresql://x@h/d", admin_key=key).items()
        if "ADMIN" in k
    }
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="luntrex-admin-ingress-"))
    service = Service("ingress-admin", ["ingress", "--port", str(port)], {**stack.ingress.env, **admin_env}, workdir)
    service.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30) as client:
            ok = await client.get("/admin/workspaces", headers={"Authorization": f"Bearer {key}"})
            assert ok.status_code == 200, ok.text
            # The test stack's own admin key is not this ingress's.
            other = await client.get("/admin/workspaces", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
            assert other.status_code in (401, 403)
    finally:
        service.stop()

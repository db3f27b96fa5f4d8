"""Session fixtures: a migrated database, unique topics, and the real services running as subprocesses."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ingress.keys import create_key
from ledger import journal, verify
from runtime.db_roles import role_url
from runtime.settings import ServiceSettings
from runtime.topics import topic_plan
from schemas.catalogue import Catalogue
from tests import services, topic_cleanup
from tests.processes import Service, free_ports
from tests.services import ROOT
from tests.topic_cleanup import ensure_topics

# The operator's credential in the test stack (LUNTREX_ADMIN_KEY).
# Property tests assert rules, not speed: on a loaded 2-core machine an example may take longer than
# hypothesis's default 200 ms deadline without anything being wrong.
settings.register_profile("luntrex", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("luntrex")

ADMIN_KEY = "test-admin-credential-0123456789abcdef"
# Keys a workspace may mint per hour in the test stack: low, so the limit itself can be tested.
KEY_MINTS_PER_HOUR_MAX = 12
# The workers never touch the database: a URL that cannot connect makes any attempt fail loudly.
NO_DATABASE_URL = "postgresql+psycopg://no_database@127.0.0.1:1/workers_use_none"


@dataclass
class Stack:
    """The running services and the addresses a test needs."""

    base_url: str
    fake_url: str
    kafka: str
    database_url: str
    topic_prefix: str
    ingress: Service
    ledger: Service
    workers: Service
    fakeprovider: Service
    dispatcher: Service
    # `/metrics` of each service (ingress on its own port, the ledger and the workers on LUNTREX_METRICS_PORT).
    metrics_urls: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Workspace:
    id: str
    api_key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}


# Models only the end-to-end tests use: each has its own upstream name, so a failure scripted on the fake
# provider for one test cannot touch another; prices differ so billing at the answering model shows.
TEST_MODELS = """
[[models]]
id = "test/params-slow"
provider = "openai"
upstream = "test-params-slow"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

[[models]]
id = "test/slow"
provider = "openai"
upstream = "test-slow"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

[[models]]
id = "test/flaky"
provider = "anthropic"
upstream = "test-flaky"
pool = "anthropic"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

[[models]]
id = "test/priced"
provider = "openai"
upstream = "test-priced"
pool = "openai"
input_multiplier = "2"
output_multiplier = "3"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000
fallbacks = ["test/cheap"]

[[models]]
id = "test/hot-path"
provider = "openai"
upstream = "test-hot-path"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000
template_tokens_fixed = 0
template_tokens_per_message = 0

[[models]]
id = "test/repriced"
provider = "openai"
upstream = "test-repriced"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

[[models]]
id = "test/cheap"
provider = "gemini"
upstream = "test-cheap"
pool = "gemini"
input_multiplier = "1/2"
output_multiplier = "1/2"
max_output_tokens = 32
default_max_tokens = 32
context_tokens = 100000

[[models]]
id = "test/tiny"
provider = "openai"
upstream = "test-tiny"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 16
default_max_tokens = 16
context_tokens = 64

[[models]]
id = "test/broken"
provider = "openai"
upstream = "test-broken"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

[[models]]
id = "test/hostile"
provider = "openai"
upstream = "test-hostile"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

[[models]]
id = "test/refused"
provider = "refused"
upstream = "test-refused"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

# Telemetry tests script this model's failures (retries, then the fallback) without touching other tests.
[[models]]
id = "test/observed"
provider = "openai"
upstream = "test-observed"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000
fallbacks = ["test/cheap"]

# Cached-input billing (tests/test_cached_input_billing_e2e.py) publishes its own prices for these, one provider
# wire format each, so no other test's bill moves with them.
[[models]]
id = "test/cached-openai"
provider = "openai"
upstream = "test-cached-openai"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

[[models]]
id = "test/cached-anthropic"
provider = "anthropic"
upstream = "test-cached-anthropic"
pool = "anthropic"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

[[models]]
id = "test/cached-gemini"
provider = "gemini"
upstream = "test-cached-gemini"
pool = "gemini"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

[[models]]
id = "test/cached-late"
provider = "openai"
upstream = "test-cached-late"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

[[models]]
id = "test/cached-replay"
provider = "openai"
upstream = "test-cached-replay"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 4096
default_max_tokens = 64
context_tokens = 100000

# A provider nobody listens for (the discard port): every connection to it is refused.
[providers.refused]
kind = "openai_compatible"
base_url = "http://127.0.0.1:9/v1"
timeout_s = 10
"""


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After every fixture (the services included) is torn down: drop the topics this session created."""
    topic_cleanup.delete_created()


@pytest.fixture(scope="session")
def catalogue_path() -> Path:
    path = Path(tempfile.mkdtemp(prefix="luntrex-catalogue-")) / "models.toml"
    path.write_text((ROOT / "config" / "models.toml").read_text() + TEST_MODELS)
    return path


@pytest.fixture(scope="session")
def catalogue(catalogue_path: Path) -> Catalogue:
    from runtime.catalogue_file import load_catalogue

    return load_catalogue(catalogue_path)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    url = services.create_database()
    yield url
    services.drop_database(url)


@pytest.fixture
async def own_engine() -> AsyncIterator[AsyncEngine]:
    """A database of its own, for a test that must be alone with the ledger's background work: the session
    database has, once an end-to-end test started it, a running stack whose ledger feeds every batch in it and
    publishes every finance event of its outbox."""
    url = await asyncio.to_thread(services.create_database)
    engine = create_async_engine(url, pool_size=4)
    try:
        yield engine
    finally:
        await engine.dispose()
        await asyncio.to_thread(services.drop_database, url)


@pytest.fixture(scope="session")
def kafka() -> str:
    return services.kafka_bootstrap()


@pytest.fixture(scope="session")
def topic_prefix(kafka: str, catalogue: Catalogue) -> str:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    asyncio.run(ensure_topics(ServiceSettings(kafka_bootstrap_servers=kafka), topic_plan(catalogue, prefix)))
    return prefix


@pytest.fixture(scope="session")
def stack(database_url: str, kafka: str, topic_prefix: str, catalogue_path: Path) -> Iterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="luntrex-e2e-"))
    fake_port, ingress_port, ledger_metrics_port, workers_metrics_port = free_ports(4)
    fake_url = f"http://127.0.0.1:{fake_port}"
    common = {
        "LUNTREX_KAFKA_BOOTSTRAP_SERVERS": kafka,
        "LUNTREX_DATABASE_URL": database_url,
        "LUNTREX_TOPIC_PREFIX": topic_prefix,
        "LUNTREX_CATALOGUE_PATH": str(catalogue_path),
        "LUNTREX_LEDGER_APP_ID": f"{topic_prefix}ledger",
        "LUNTREX_BACKOFF_BASE_S": "0.05",
        "LUNTREX_KEY_CACHE_TTL_S": "1",
        "LUNTREX_ADMIN_KEY": ADMIN_KEY,
        "LUNTREX_KEY_MINTS_PER_HOUR_MAX": str(KEY_MINTS_PER_HOUR_MAX),
        # Finance webhooks: a short, finite retry schedule and timeout, so tests see retries end.
        "LUNTREX_WEBHOOK_RETRY_DELAYS_S": "[0.5, 0.5, 0.5]",
        "LUNTREX_WEBHOOK_TIMEOUT_S": "2",
        # Receivers in the tests listen on 127.0.0.1: loopback is allowed (every other non-global address is not).
        "LUNTREX_WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]',
        "LUNTREX_WEBHOOK_TICK_INTERVAL_S": "0.1",
        # Consumer lag and holds outstanding are sampled this often, so tests see them move quickly.
        "LUNTREX_METRICS_SAMPLE_INTERVAL_S": "1",
        # An early start no dispatch claims (a refused job) is cancelled after this, so tests see it end.
        "LUNTREX_EARLY_START_CLAIM_WAIT_S": "3",
        # The fake provider checks that a key is sent, as the real APIs do; any value passes.
        "OPENAI_API_KEY": "sk-fake-openai",
        "ANTHROPIC_API_KEY": "sk-ant-fake",
        "GEMINI_API_KEY": "fake-gemini-key",
        "LLAMA_API_KEY": "fake-llama-key",
        "LUNTREX_PROVIDER_BASE_URLS": (
            f'{{"openai": "{fake_url}/openai/v1", "anthropic": "{fake_url}/anthropic", '
            f'"gemini": "{fake_url}/gemini", "llama": "{fake_url}/openai/v1"}}'
        ),
    }
    metrics_ports = {"ledger": ledger_metrics_port, "workers": workers_metrics_port}
    parts = {
        "fakeprovider": Service("fakeprovider", ["fakeprovider", "--port", str(fake_port)], common, workdir),
        # Each service connects as its own PostgreSQL role, as in `make up`, so every test also proves the
        # grants of runtime/db_roles.py are enough (and the workers need no database at all).
        "ledger": Service(
            "ledger",
            ["ledger"],
            {
                **common,
                "LUNTREX_DATABASE_URL": role_url(database_url, "ledger"),
                "LUNTREX_METRICS_PORT": str(metrics_ports["ledger"]),
            },
            workdir,
        ),
        "workers": Service(
            "workers",
            ["workers"],
            {
                **common,
                "LUNTREX_DATABASE_URL": NO_DATABASE_URL,
                "LUNTREX_METRICS_PORT": str(metrics_ports["workers"]),
            },
            workdir,
        ),
        "dispatcher": Service(
            "dispatcher",
            ["ledger.dispatcher"],
            {**common, "LUNTREX_DATABASE_URL": role_url(database_url, "ledger")},
            workdir,
        ),
        "ingress": Service(
            "ingress",
            ["ingress", "--port", str(ingress_port)],
            {**common, "LUNTREX_DATABASE_URL": role_url(database_url, "ingress")},
            workdir,
        ),
    }
    try:
        for part in parts.values():
            part.start()
        yield Stack(
            base_url=f"http://127.0.0.1:{ingress_port}/api/v1",
            fake_url=fake_url,
            kafka=kafka,
            database_url=database_url,
            topic_prefix=topic_prefix,
            **parts,
            metrics_urls={
                "ingress": f"http://127.0.0.1:{ingress_port}/metrics",
                **{name: f"http://127.0.0.1:{port}/metrics" for name, port in metrics_ports.items()},
            },
        )
    finally:
        for part in reversed(parts.values()):
            part.stop()


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, pool_size=20)
    yield engine
    await engine.dispose()


async def make_workspace(
    engine: AsyncEngine, *, tokens: int, credit_line_tokens: int = 0, default_model: str | None = None
) -> Workspace:
    """A fresh workspace with a starting grant and one API key (tests isolate by workspace)."""
    workspace_id = f"ws_{uuid.uuid4().hex[:12]}"
    async with engine.begin() as conn:
        await journal.create_workspace(
            conn, workspace_id, name="test", credit_line_tokens=credit_line_tokens, default_model=default_model
        )
        if tokens:
            await journal.grant(conn, workspace_id, tokens, idempotency_key=f"grant:test:{workspace_id}")
        key_id, secret = await create_key(conn, workspace_id, "test key")
    return Workspace(id=workspace_id, api_key=secret, key_id=key_id)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        yield client


@pytest.fixture(autouse=True)
async def verified_book(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """After every end-to-end test that ran the stack, the whole book must verify (`ledger.verify`).

    Jobs may still be in flight when the test returns; verify accepts a `queued` job with its open hold.
    """
    yield
    if "stack" not in request.fixturenames:
        return
    engine = create_async_engine(request.getfixturevalue("database_url"), pool_size=1)
    try:
        violations = await verify.verify_database(engine)
    finally:
        await engine.dispose()
    assert not violations, f"the book does not verify after {request.node.nodeid}: {violations}"

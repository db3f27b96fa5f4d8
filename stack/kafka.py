"""A real single-node Apache Kafka broker in KRaft mode, resolved from Maven Central and run detached.

The jars come from ``stack/kafka/pom.xml`` via ``mvn dependency:copy-dependencies`` into
``.cache/kafka-<version>/libs``; the broker's files (config, data, pid, log) live under a run directory.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

from stack import prerequisites
from stack.pids import POLL_INTERVAL_S, is_alive, live_pid, port_open, tail, terminate, write_pid
from stack.profiles import CACHE_DIR, LOOPBACK
from stack.progress import step

KAFKA_VERSION = "4.1.1"
POM_PATH = Path(__file__).resolve().parent / "kafka" / "pom.xml"
LIBS_DIR = CACHE_DIR / f"kafka-{KAFKA_VERSION}" / "libs"
# Written after mvn succeeds, so an interrupted copy is redone rather than trusted.
LIBS_COMPLETE_MARKER = ".complete"
BROKER_MAIN_CLASS = "kafka.Kafka"
# A broker holds metadata for every partition: a test run creates thousands (one topic set per session), and
# 512 MiB ran out of heap under several concurrent sessions.
HEAP_MAX = "1g"

MVN_TIMEOUT_S = 600.0
STORAGE_TOOL_TIMEOUT_S = 120.0
START_TIMEOUT_S = 90.0
STOP_GRACE_S = 30.0
METADATA_REQUEST_TIMEOUT_MS = 3000
LOG_TAIL_LINES = 40

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=8
auto.create.topics.enable=true
group.initial.rebalance.delay.ms=0
# The project's one record-size limit (LUNTREX_KAFKA_MESSAGE_MAX_BYTES), so the broker accepts whatever the
# producers may send; replicas must be able to fetch a record that large too.
message.max.bytes={message_max_bytes}
replica.fetch.max.bytes={message_max_bytes}
offsets.topic.replication.factor=1
# One partition each for the internal topics: a single-node stack gains nothing from more, and they
# are created on first use, so fewer partitions make the first consumer group and transaction faster.
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# After an unclean kill the restarted broker cannot register until its previous session expires
# (default 9 s); a short session keeps recovery of the local broker to a few seconds.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
"""

LOG4J2_PROPERTIES = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka_request.name = kafka.request.logger
logger.kafka_request.level = WARN
logger.state_change.name = state.change.logger
logger.state_change.level = WARN
"""


class KafkaStartError(RuntimeError):
    """The broker could not be provisioned or did not become ready; the message carries the log tail."""


def ensure_kafka(run_dir: Path, port: int, controller_port: int, message_max_bytes: int) -> str:
    """Start the broker for ``run_dir`` unless it already runs; return its bootstrap address.

    Idempotent: a live broker recorded in ``<run_dir>/kafka.pid`` that answers a metadata request is
    left alone. Storage is formatted only when the data directory is new.
    """
    bootstrap = f"{LOOPBACK}:{port}"
    pid_path = run_dir / "kafka.pid"
    log_path = run_dir / "logs" / "kafka.log"
    config_dir = run_dir / "kafka"
    pid = live_pid(pid_path, BROKER_MAIN_CLASS)
    if pid is not None:
        wait_until_ready(pid, bootstrap, log_path)
        return bootstrap
    if port_open(LOOPBACK, port) or port_open(LOOPBACK, controller_port):
        raise KafkaStartError(
            f"port {port} or {controller_port} is already in use, but not by the broker recorded in "
            f"{pid_path}; stop whatever holds it (see `ss -ltnp`)"
        )
    libs_dir = resolve_libs()
    config_dir.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    data_dir = run_dir / "kafka-data"
    server_properties = config_dir / "server.properties"
    log4j_properties = config_dir / "log4j2.properties"
    server_properties.write_text(
        SERVER_PROPERTIES.format(
            host=LOOPBACK,
            port=port,
            controller_port=controller_port,
            data_dir=data_dir,
            message_max_bytes=message_max_bytes,
        )
    )
    log4j_properties.write_text(LOG4J2_PROPERTIES)
    if not (data_dir / "meta.properties").exists():
        _format_storage(libs_dir, server_properties, log4j_properties, data_dir)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                java_binary(),
                f"-Xmx{HEAP_MAX}",
                "-cp",
                f"{libs_dir}/*",
                f"-Dlog4j2.configurationFile={log4j_properties}",
                BROKER_MAIN_CLASS,
                str(server_properties),
            ],
            cwd=run_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    write_pid(pid_path, process.pid)
    wait_until_ready(process.pid, bootstrap, log_path)
    return bootstrap


def stop_kafka(run_dir: Path) -> bool:
    """Stop the broker of ``run_dir`` if it runs; True when it was running."""
    pid_path = run_dir / "kafka.pid"
    pid = live_pid(pid_path, BROKER_MAIN_CLASS)
    if pid is None:
        return False
    terminate(pid, STOP_GRACE_S, group=True)
    pid_path.unlink(missing_ok=True)
    return True


def kafka_pid(run_dir: Path) -> int | None:
    """The pid of the live broker of ``run_dir``, if any."""
    return live_pid(run_dir / "kafka.pid", BROKER_MAIN_CLASS)


def resolve_libs() -> Path:
    """Copy the broker's jars from Maven Central into the cache, unless a complete copy is there."""
    if (LIBS_DIR / LIBS_COMPLETE_MARKER).exists():
        return LIBS_DIR
    mvn = prerequisites.maven()
    if LIBS_DIR.exists():
        shutil.rmtree(LIBS_DIR)
    LIBS_DIR.mkdir(parents=True)
    command = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM_PATH),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={LIBS_DIR}",
        "-DincludeScope=runtime",
    ]
    with step(f"downloading Kafka {KAFKA_VERSION}'s jars from Maven Central into {LIBS_DIR} (first run only)"):
        result = subprocess.run(command, capture_output=True, text=True, timeout=MVN_TIMEOUT_S, check=False)
    if result.returncode != 0 or not any(LIBS_DIR.glob("kafka_2.13-*.jar")):
        raise KafkaStartError(
            f"resolving Kafka {KAFKA_VERSION} from Maven Central failed (exit {result.returncode}):\n"
            f"{result.stdout[-4000:]}{result.stderr[-4000:]}"
        )
    (LIBS_DIR / LIBS_COMPLETE_MARKER).touch()
    return LIBS_DIR


def java_binary() -> str:
    """Java 17+ for the broker and its tools (installed with apt when missing and root)."""
    return prerequisites.java()


def _format_storage(libs_dir: Path, server_properties: Path, log4j_properties: Path, data_dir: Path) -> None:
    """Give a new data directory a fresh cluster id (``kafka-storage format``)."""
    classpath = f"{libs_dir}/*"
    logging = f"-Dlog4j2.configurationFile={log4j_properties}"
    cluster_id = run_tool([java_binary(), "-cp", classpath, logging, "kafka.tools.StorageTool", "random-uuid"])
    if data_dir.exists():
        # A data directory without meta.properties is debris of an interrupted format.
        shutil.rmtree(data_dir)
    run_tool(
        [
            java_binary(),
            "-cp",
            classpath,
            logging,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id.strip().splitlines()[-1],
            "-c",
            str(server_properties),
        ]
    )


def run_tool(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=STORAGE_TOOL_TIMEOUT_S, check=False)
    if result.returncode != 0:
        raise KafkaStartError(
            f"{' '.join(command[-4:])} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def wait_until_ready(pid: int, bootstrap: str, log_path: Path, timeout_s: float = START_TIMEOUT_S) -> None:
    """Block until the broker answers a metadata request; fail with the log tail if it dies or stalls."""
    host, port = bootstrap.rsplit(":", 1)
    deadline = time.monotonic() + timeout_s
    last_error = "the port never opened"
    while time.monotonic() < deadline:
        if not is_alive(pid):
            raise KafkaStartError(
                f"Kafka (pid {pid}) exited during start-up. Tail of {log_path}:\n{tail(log_path, LOG_TAIL_LINES)}"
            )
        if port_open(host, int(port)):
            try:
                asyncio.run(_list_topics(bootstrap))
            except Exception as error:  # noqa: BLE001 - a readiness probe: every failure means "not yet"
                # Any failure here means "not ready yet": it is retried until the deadline.
                last_error = f"{type(error).__name__}: {error}"
            else:
                return
        time.sleep(POLL_INTERVAL_S * 2)
    raise KafkaStartError(
        f"Kafka (pid {pid}) did not answer a metadata request on {bootstrap} within {timeout_s:.0f}s "
        f"({last_error}). Tail of {log_path}:\n{tail(log_path, LOG_TAIL_LINES)}"
    )


async def _list_topics(bootstrap: str) -> None:
    # Imported here so the CLI's other commands (status, logs, down) do not pay for aiokafka's import.
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=METADATA_REQUEST_TIMEOUT_MS)
    await admin.start()
    try:
        await asyncio.wait_for(admin.list_topics(), METADATA_REQUEST_TIMEOUT_MS / 1000)
    finally:
        await admin.close()

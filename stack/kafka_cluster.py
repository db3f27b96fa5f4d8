"""A real three-broker Apache Kafka cluster in KRaft mode on loopback: every broker is also a controller.

Each broker ``kafka-<node id>`` keeps its config, data, pid and log under the run directory
(``kafka-1/``, ``kafka-1-data/``, ``kafka-1.pid``, ``logs/kafka-1.log``). The controller quorum is static
(``controller.quorum.voters`` names all three), so two of three controllers make a quorum and one broker can
be lost. The cluster id is minted once and kept in ``kafka-cluster.id``, so a broker whose data directory is
new (or was wiped) formats into the same cluster and rejoins it.

The brokers' own defaults match the topics the stack creates: a topic created any other way (auto-created,
or Kafka's internal offsets and transaction topics) also gets the replication factor and the minimum of
in-sync replicas.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stack.kafka import (
    BROKER_MAIN_CLASS,
    LOG4J2_PROPERTIES,
    START_TIMEOUT_S,
    KafkaStartError,
    java_binary,
    resolve_libs,
    run_tool,
    wait_until_ready,
)
from stack.pids import live_pid, port_open, terminate, write_pid
from stack.profiles import LOOPBACK

# Three brokers share the machine with everything else; the cluster profile's few topics need little heap.
HEAP_MAX = "512m"
STOP_GRACE_S = 30.0
CLUSTER_ID_FILE = "kafka-cluster.id"

BROKER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data_dir}
num.partitions=8
default.replication.factor={replication_factor}
min.insync.replicas={min_insync_replicas}
# A leader never moves to a replica that may lack acknowledged writes (the default, stated because it is why
# acks=all with min.insync.replicas loses nothing).
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
message.max.bytes={message_max_bytes}
replica.fetch.max.bytes={message_max_bytes}
offsets.topic.replication.factor={replication_factor}
offsets.topic.num.partitions=8
transaction.state.log.replication.factor={replication_factor}
transaction.state.log.min.isr={min_insync_replicas}
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor={replication_factor}
share.coordinator.state.topic.min.isr={min_insync_replicas}
# A killed broker is fenced (and dropped from every ISR, so writes go on with the other two) after the
# session timeout; the restarted one registers again as soon as its old session has expired.
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
"""


@dataclass(frozen=True)
class Broker:
    """One broker of the cluster and where its files are."""

    node_id: int
    port: int
    controller_port: int
    run_dir: Path

    @property
    def name(self) -> str:
        return f"kafka-{self.node_id}"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_path(self) -> Path:
        return self.run_dir / "logs" / f"{self.name}.log"

    @property
    def config_dir(self) -> Path:
        return self.run_dir / self.name

    @property
    def data_dir(self) -> Path:
        return self.run_dir / f"{self.name}-data"

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"


@dataclass(frozen=True)
class ClusterSpec:
    run_dir: Path
    ports: tuple[int, ...]
    controller_ports: tuple[int, ...]
    message_max_bytes: int
    replication_factor: int
    min_insync_replicas: int

    @property
    def brokers(self) -> tuple[Broker, ...]:
        return tuple(
            Broker(index + 1, port, controller_port, self.run_dir)
            for index, (port, controller_port) in enumerate(zip(self.ports, self.controller_ports, strict=True))
        )

    @property
    def bootstrap(self) -> str:
        return ",".join(broker.bootstrap for broker in self.brokers)

    @property
    def voters(self) -> str:
        return ",".join(f"{broker.node_id}@{LOOPBACK}:{broker.controller_port}" for broker in self.brokers)


def ensure_cluster(spec: ClusterSpec, timeout_s: float = START_TIMEOUT_S) -> str:
    """Start every broker of the cluster that is not running, wait until each answers; the bootstrap list.

    All missing brokers are started before any is waited for: a broker answers only once a quorum of
    controllers (two of three) has elected a leader.
    """
    for broker in spec.brokers:
        if broker_pid(broker) is None:
            _start(spec, broker)
    for broker in spec.brokers:
        pid = broker_pid(broker)
        if pid is None:
            raise KafkaStartError(f"{broker.name} is not running after its start; see {broker.log_path}")
        wait_until_ready(pid, broker.bootstrap, broker.log_path, timeout_s)
    return spec.bootstrap


def start_broker(spec: ClusterSpec, node_id: int, timeout_s: float = START_TIMEOUT_S) -> int:
    """Start one broker (for example after it was killed) and wait until it answers; its pid.

    A broker killed uncleanly recovers its logs first: on a busy machine that alone can take a minute.
    """
    broker = next(broker for broker in spec.brokers if broker.node_id == node_id)
    pid = broker_pid(broker) or _start(spec, broker)
    wait_until_ready(pid, broker.bootstrap, broker.log_path, timeout_s)
    return pid


def stop_cluster(spec: ClusterSpec) -> list[str]:
    """Stop every running broker (SIGTERM, SIGKILL after a bound); the names of those that ran."""
    stopped = []
    for broker in reversed(spec.brokers):
        pid = broker_pid(broker)
        if pid is None:
            continue
        terminate(pid, STOP_GRACE_S, group=True)
        broker.pid_path.unlink(missing_ok=True)
        stopped.append(broker.name)
    return stopped


def broker_pid(broker: Broker) -> int | None:
    """The pid of the live broker, if any."""
    return live_pid(broker.pid_path, BROKER_MAIN_CLASS)


def _start(spec: ClusterSpec, broker: Broker) -> int:
    if port_open(LOOPBACK, broker.port) or port_open(LOOPBACK, broker.controller_port):
        raise KafkaStartError(
            f"port {broker.port} or {broker.controller_port} is already in use, but not by {broker.name} "
            f"recorded in {broker.pid_path}; stop whatever holds it (see `ss -ltnp`)"
        )
    libs_dir = resolve_libs()
    broker.config_dir.mkdir(parents=True, exist_ok=True)
    broker.log_path.parent.mkdir(parents=True, exist_ok=True)
    server_properties = broker.config_dir / "server.properties"
    log4j_properties = broker.config_dir / "log4j2.properties"
    server_properties.write_text(
        BROKER_PROPERTIES.format(
            node_id=broker.node_id,
            voters=spec.voters,
            host=LOOPBACK,
            port=broker.port,
            controller_port=broker.controller_port,
            data_dir=broker.data_dir,
            replication_factor=spec.replication_factor,
            min_insync_replicas=spec.min_insync_replicas,
            message_max_bytes=spec.message_max_bytes,
        )
    )
    log4j_properties.write_text(LOG4J2_PROPERTIES)
    classpath = f"{libs_dir}/*"
    logging = f"-Dlog4j2.configurationFile={log4j_properties}"
    if not (broker.data_dir / "meta.properties").exists():
        _format(spec, broker, classpath, logging, server_properties)
    with broker.log_path.open("ab") as log:
        process = subprocess.Popen(
            [java_binary(), f"-Xmx{HEAP_MAX}", "-cp", classpath, logging, BROKER_MAIN_CLASS, str(server_properties)],
            cwd=spec.run_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    write_pid(broker.pid_path, process.pid)
    return process.pid


def _format(spec: ClusterSpec, broker: Broker, classpath: str, logging: str, server_properties: Path) -> None:
    """Format a new data directory into the cluster (one id for all brokers, minted by the first)."""
    id_path = spec.run_dir / CLUSTER_ID_FILE
    if not id_path.exists():
        output = run_tool([java_binary(), "-cp", classpath, logging, "kafka.tools.StorageTool", "random-uuid"])
        id_path.write_text(output.strip().splitlines()[-1] + "\n")
    cluster_id = id_path.read_text().strip()
    if broker.data_dir.exists():
        # A data directory without meta.properties is debris of an interrupted format.
        shutil.rmtree(broker.data_dir)
    tool = [java_binary(), "-cp", classpath, logging, "kafka.tools.StorageTool"]
    run_tool([*tool, "format", "-t", cluster_id, "-c", str(server_properties)])

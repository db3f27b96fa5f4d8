"""A private PostgreSQL cluster for the local stack, run as an unprivileged user under a run directory.

Uses the Debian ``postgresql`` package's binaries (installed with apt when missing and we are root).
``initdb`` and ``pg_ctl`` refuse to run as root, so as root they run as the ``postgres`` system user
(or a ``luntrex`` system user created for the purpose).

Authentication: the cluster listens on 127.0.0.1 only and on a socket inside the run directory, and it
holds throwaway dev/test data, so the ``luntrex`` role is trusted from loopback without a password.
That is a choice for this local cluster only; the container deployment uses passwords.
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from runtime.db_roles import SERVICES, role_name
from stack import prerequisites
from stack.pids import command_line, is_alive, port_open, read_pid, tail
from stack.profiles import LOOPBACK

ROLE = "luntrex"
DATABASE = "luntrex"
SUPERUSER = "postgres"
FALLBACK_SYSTEM_USER = "luntrex"
MAX_CONNECTIONS = 200
BIN_DIR_GLOB = "/usr/lib/postgresql/*/bin"

INITDB_TIMEOUT_S = 120.0
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
PSQL_TIMEOUT_S = 30.0
LOG_TAIL_LINES = 40
START_ATTEMPTS_MAX = 10
CRASH_REMNANT_BACKOFF_S = 1.0
CRASH_REMNANT_MARKERS = ("already exists", "is still in use")

SERVICE_ROLES = tuple(role_name(service) for service in SERVICES)
_SERVICE_HBA_LINES = "".join(f"host    all   {role}   127.0.0.1/32   trust\n" for role in SERVICE_ROLES)
PG_HBA = f"""\
# Written by stack/postgres.py. Loopback-only dev/test cluster: see the module docstring.
local   all   all                   trust
host    all   {ROLE}   127.0.0.1/32   trust
{_SERVICE_HBA_LINES}host    all   all       127.0.0.1/32   scram-sha-256
"""

# Idempotent: run on every ensure, so a cluster whose bootstrap was interrupted is completed.
# Built from module constants only, never from input.
_CREATE_SERVICE_ROLES = "".join(
    f"SELECT 'CREATE ROLE {role} LOGIN NOINHERIT'\n"  # noqa: S608
    f"  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}')\\gexec\n"
    for role in SERVICE_ROLES
)
BOOTSTRAP_SQL = f"""\
SELECT 'CREATE ROLE {ROLE} LOGIN CREATEDB'
  WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}')\\gexec
SELECT 'CREATE DATABASE {DATABASE} OWNER {ROLE}'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DATABASE}')\\gexec
{_CREATE_SERVICE_ROLES}"""  # noqa: S608


class PostgresStartError(RuntimeError):
    """The cluster could not be installed, initialised or started; the message says why."""


def database_url(port: int) -> str:
    return f"postgresql+psycopg://{ROLE}@{LOOPBACK}:{port}/{DATABASE}"


def ensure_postgres(run_dir: Path, port: int, fast: bool) -> str:
    """Start the cluster of ``run_dir`` unless it already runs; return the SQLAlchemy URL of ``luntrex``.

    ``fast`` turns off fsync, synchronous_commit and full_page_writes: for the test profile only,
    whose data may be lost on a crash. Idempotent and quick when the cluster is already running.
    """
    data_dir = run_dir / "pgdata"
    socket_dir = run_dir / "pgsocket"
    log_path = run_dir / "logs" / "postgres.log"
    bin_dir = _bin_dir()
    user = _cluster_user()
    if postgres_pid(run_dir) is None:
        if port_open(LOOPBACK, port):
            raise PostgresStartError(
                f"port {port} is already in use, but not by the cluster in {data_dir}; "
                "stop whatever holds it (see `ss -ltnp`)"
            )
        _prepare_dirs(run_dir, [data_dir, socket_dir], log_path, user)
        if not (data_dir / "PG_VERSION").exists():
            _initdb(bin_dir, data_dir, user)
        _write_hba(data_dir)
        _start(bin_dir, data_dir, socket_dir, log_path, port, fast, user)
    elif _write_hba(data_dir):
        # A cluster made before the service roles existed: reload so they can log in.
        _run_as(user, [str(bin_dir / "pg_ctl"), "reload", "-D", str(data_dir)], timeout_s=PSQL_TIMEOUT_S, what="reload")
    _bootstrap(bin_dir, socket_dir, port, user)
    return database_url(port)


def stop_postgres(run_dir: Path) -> bool:
    """Stop the cluster of ``run_dir`` (fast shutdown) if it runs; True when it was running."""
    if postgres_pid(run_dir) is None:
        return False
    data_dir = run_dir / "pgdata"
    _run_as(
        _cluster_user(),
        [str(_bin_dir() / "pg_ctl"), "stop", "-D", str(data_dir), "-m", "fast", "-w", "-t", "60"],
        timeout_s=STOP_TIMEOUT_S,
        what="pg_ctl stop",
    )
    return True


def postgres_pid(run_dir: Path) -> int | None:
    """The postmaster's pid if the cluster of ``run_dir`` is running."""
    data_dir = run_dir / "pgdata"
    pid = read_pid(data_dir / "postmaster.pid")
    # The postmaster's argv names its data directory; a reused pid would not.
    if pid is None or not is_alive(pid) or str(data_dir) not in command_line(pid):
        return None
    return pid


def _bin_dir() -> Path:
    """The newest installed PostgreSQL's bin directory, installing Debian's package if needed."""
    found = _installed_bin_dirs()
    if not found:
        prerequisites.apt_install(
            ["postgresql"],
            "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)",
            manual="apt-get install -y postgresql",
        )
        found = _installed_bin_dirs()
        if not found:
            raise PostgresStartError("apt-get installed postgresql but no initdb was found under " + BIN_DIR_GLOB)
    return found[-1]


def _installed_bin_dirs() -> list[Path]:
    root = Path("/usr/lib/postgresql")
    dirs = [path.parent for path in root.glob("*/bin/initdb")] if root.exists() else []
    return sorted(dirs, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)


def _cluster_user() -> str | None:
    """The user the cluster runs as: None means "the current user" (we are not root)."""
    if os.geteuid() != 0:
        return None
    for name in (SUPERUSER, FALLBACK_SYSTEM_USER):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_SYSTEM_USER],
        check=True,
        capture_output=True,
    )
    return FALLBACK_SYSTEM_USER


def _prepare_dirs(run_dir: Path, owned_dirs: list[Path], log_path: Path, user: str | None) -> None:
    """Create the cluster's directories and hand them to ``user``; parents must be traversable."""
    for directory in owned_dirs:
        directory.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.touch()
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for path in [*owned_dirs, log_path]:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    for directory in owned_dirs:
        directory.chmod(0o700)
    for parent in [log_path.parent, *run_dir.resolve().parents, run_dir.resolve()]:
        if not parent.stat().st_mode & 0o001:
            raise PostgresStartError(
                f"{parent} is not traversable by other users, so the {user!r} user cannot reach the "
                f"cluster's files; run `chmod o+x {parent}` or clone the repository elsewhere"
            )


def _initdb(bin_dir: Path, data_dir: Path, user: str | None) -> None:
    _run_as(
        user,
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
        ],
        timeout_s=INITDB_TIMEOUT_S,
        what="initdb",
    )


def _write_hba(data_dir: Path) -> bool:
    """Write our pg_hba.conf unless it is already there; True when it changed."""
    hba_path = data_dir / "pg_hba.conf"
    try:
        if hba_path.read_text() == PG_HBA:
            return False
    except FileNotFoundError:
        pass
    hba_path.write_text(PG_HBA)
    return True


def _start(
    bin_dir: Path, data_dir: Path, socket_dir: Path, log_path: Path, port: int, fast: bool, user: str | None
) -> None:
    settings = [
        f"listen_addresses={LOOPBACK}",
        f"port={port}",
        f"unix_socket_directories={socket_dir}",
        f"max_connections={MAX_CONNECTIONS}",
    ]
    if fast:
        settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
    options = " ".join(f"-c {setting}" for setting in settings)
    command = [str(bin_dir / "pg_ctl"), "start", "-D", str(data_dir), "-l", str(log_path), "-o", options]
    # After a crash (kill -9) the dead postmaster's backends exit a moment later, and until they do
    # PostgreSQL refuses to start ("lock file ... already exists", "shared memory block is still in use").
    for attempt in range(1, START_ATTEMPTS_MAX + 1):
        log_offset = log_path.stat().st_size
        try:
            # A new session keeps the postmaster out of the caller's terminal process group, so a Ctrl-C
            # in a later foreground command (pytest, make) does not shut the cluster down.
            _run_as(
                user,
                [*command, "-w", "-t", str(int(START_TIMEOUT_S))],
                timeout_s=START_TIMEOUT_S + 10,
                what="pg_ctl start",
                new_session=True,
            )
            break
        except PostgresStartError as error:
            with log_path.open(errors="replace") as log:
                log.seek(log_offset)
                attempt_log = log.read()
            if attempt < START_ATTEMPTS_MAX and any(marker in attempt_log for marker in CRASH_REMNANT_MARKERS):
                time.sleep(CRASH_REMNANT_BACKOFF_S)
                continue
            raise PostgresStartError(f"{error}\nTail of {log_path}:\n{tail(log_path, LOG_TAIL_LINES)}") from None
    if not port_open(LOOPBACK, port):
        raise PostgresStartError(
            f"PostgreSQL started but does not accept connections on {LOOPBACK}:{port}. "
            f"Tail of {log_path}:\n{tail(log_path, LOG_TAIL_LINES)}"
        )


def _bootstrap(bin_dir: Path, socket_dir: Path, port: int, user: str | None) -> None:
    psql = [
        str(bin_dir / "psql"),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        str(socket_dir),
        "-p",
        str(port),
        "-U",
        SUPERUSER,
        "-d",
        "postgres",
    ]
    _run_as(
        user,
        psql,
        timeout_s=PSQL_TIMEOUT_S,
        what="creating the luntrex role and database",
        stdin=BOOTSTRAP_SQL,
    )


def _run_as(
    user: str | None,
    command: list[str],
    *,
    timeout_s: float,
    what: str,
    stdin: str | None = None,
    new_session: bool = False,
) -> None:
    """Run ``command`` as ``user`` (None: as ourselves); raise with its output when it fails."""
    if user is not None:
        runuser = shutil.which("runuser")
        if runuser is not None:
            command = [runuser, "-u", user, "--", *command]
        else:
            command = ["su", user, "-s", "/bin/sh", "-c", shlex.join(command)]
    result = subprocess.run(
        command,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd="/",
        start_new_session=new_session,
    )
    if result.returncode != 0:
        raise PostgresStartError(f"{what} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}")

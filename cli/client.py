"""The CLI's HTTP client: where the API is and which credential to send, and errors as clear exits.

Connection settings come from, in order: the command's options (`--base-url`, `--admin-key`, `--api-key`),
the environment (`LUNTREX_BASE_URL`, `LUNTREX_ADMIN_KEY`, `LUNTREX_API_KEY`), then the env file that
`make up` writes (`--env-file`; by default `.run/stack.env` in the current folder, else in the CLI's checkout).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import click
import httpx

from cli import stackenv

DEFAULT_BASE_URL = "http://127.0.0.1:8080/api/v1"
TIMEOUT_S = 120.0

F = TypeVar("F", bound=Callable[..., Any])


def read_env_file(path: Path) -> dict[str, str]:
    """The env file's settings, or none when there is no file (options and the environment may suffice)."""
    return stackenv.read(path) if path.exists() else {}


@dataclass(frozen=True)
class Connection:
    base_url: str
    admin_key: str | None
    api_key: str | None
    # The env file the settings were looked for in, named when a credential is missing.
    env_file: Path | None = None


def connection_options(command: F) -> F:
    """Adds the connection options to a command; it receives them as one `connection` argument."""
    options = [
        click.option(
            "--env-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=stackenv.default_env_file,
            show_default=stackenv.DEFAULT_ENV_FILE_HELP,
            help="env file written by `make up`",
        ),
        click.option("--base-url", envvar="LUNTREX_BASE_URL", help="API base URL, e.g. http://host:8080/api/v1"),
        click.option("--admin-key", envvar="LUNTREX_ADMIN_KEY", help="the operator's admin credential"),
        click.option("--api-key", envvar="LUNTREX_API_KEY", help="a workspace API key"),
    ]

    def wrapped(
        *args: Any, env_file: Path, base_url: str | None, admin_key: str | None, api_key: str | None, **kwargs: Any
    ) -> Any:
        env = read_env_file(env_file)
        connection = Connection(
            base_url=(base_url or env.get("LUNTREX_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            admin_key=admin_key or env.get("LUNTREX_ADMIN_KEY"),
            api_key=api_key or env.get("LUNTREX_API_KEY"),
            env_file=env_file,
        )
        return command(*args, connection=connection, **kwargs)

    wrapped.__name__ = command.__name__
    wrapped.__doc__ = command.__doc__
    for option in reversed(options):
        wrapped = option(wrapped)
    return wrapped  # type: ignore[return-value]


def request(
    connection: Connection,
    method: str,
    path: str,
    *,
    admin: bool,
    body: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    content: Iterator[bytes] | None = None,
) -> Any:
    """One API call (a JSON `body`, or `content` streamed as it is read); any failure becomes a ClickException
    (exit 1) naming the status, code and message."""
    url = connection.base_url + path
    try:
        response = httpx.request(
            method,
            url,
            json=body,
            content=content,
            params=params,
            headers={"Authorization": f"Bearer {_credential(connection, admin)}", **(headers or {})},
            timeout=TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from exc
    _raise_for(response)
    return response.json() if response.content else None


def download(connection: Connection, path: str, out: BinaryIO) -> None:
    """Copy an answer's bytes (JSON lines) to `out` as they arrive, so a large one never sits in memory."""
    url = connection.base_url + path
    headers = {"Authorization": f"Bearer {_credential(connection, admin=False)}"}
    try:
        with httpx.stream("GET", url, headers=headers, timeout=TIMEOUT_S) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            for chunk in response.iter_bytes():
                out.write(chunk)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot read {url}: {exc}") from exc


def _credential(connection: Connection, admin: bool) -> str:
    credential = connection.admin_key if admin else connection.api_key
    if not credential:
        which = "--admin-key / LUNTREX_ADMIN_KEY" if admin else "--api-key / LUNTREX_API_KEY"
        where = connection.env_file or stackenv.default_env_file()
        found = "has none" if where.exists() else "does not exist"
        raise click.ClickException(
            f"no credential: pass {which}, or run `make up` to write {where} (which {found}), or pass --env-file"
        )
    return credential


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()
        detail = f"{error.get('status', response.status_code)} {error.get('code', '')}: {error.get('error', '')}"
        # A refused batch lists its bad lines by number: the caller needs them to mend the file.
        for line in error.get("errors") or []:
            detail += f"\n  line {line.get('line')}: {line.get('code')}: {line.get('message')}"
    except (ValueError, AttributeError):
        detail = f"{response.status_code}: {response.text[:200]}"
    raise click.ClickException(detail)


def emit(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True))


def progress(message: str) -> None:
    """Progress goes to stderr, so stdout stays one JSON document."""
    click.echo(message, err=True)

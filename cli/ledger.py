"""`luntrex ledger ...`: commands over the book of record (read-only)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from cli import stackenv
from ledger import verify as book


class CannotVerify(click.ClickException):
    """The book could not be read at all (as opposed to read and found broken)."""

    exit_code = 2


@click.group("ledger")
def group() -> None:
    """The book of record: journal, balances, holds and debits."""


@group.command("verify")
@click.option("--database-url", help="SQLAlchemy URL of the book (default: DATABASE_URL from the env file).")
@click.option(
    "--env-file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=stackenv.default_env_file,
    show_default=stackenv.DEFAULT_ENV_FILE_HELP,
    help="The stack's env file, read when --database-url is not given.",
)
def verify(database_url: str | None, env_file: Path) -> None:
    """Check every rule of the book; print JSON; exit 1 and list the offending rows if any rule is broken.

    Rules: every transaction balances and has postings, every balance equals the sum of its postings, nothing
    is below its floor, all postings sum to zero, every completed job has exactly one debit (at its cost) and
    no open hold, no failed, expired, rejected or cancelled job is debited, every queued job has one hold.
    """
    url = database_url or stackenv.value(env_file, "DATABASE_URL")
    violations = asyncio.run(_verify(url))
    report = {"ok": not violations, "violations": [dataclasses.asdict(v) for v in violations]}
    click.echo(json.dumps(report, indent=2, sort_keys=True))
    if violations:
        raise click.exceptions.Exit(1)


async def _verify(url: str) -> list[book.Violation]:
    engine = create_async_engine(url, pool_size=1)
    try:
        return await book.verify_database(engine)
    except (SQLAlchemyError, OSError) as exc:
        raise CannotVerify(f"cannot read the book: {exc}") from exc
    finally:
        await engine.dispose()

"""`luntrex`: the command group; each area registers its own subgroup here."""

from __future__ import annotations

import click

from cli.chat import chat
from cli.keys import key
from cli.workspace import workspace


@click.group()
def main() -> None:
    """Luntrex Router from the command line. Prints JSON; exits non-zero with a message on any error."""


main.add_command(workspace)
main.add_command(key)
main.add_command(chat)

"""The `luntrex` command: only a registry of command groups, each defined in its own module.

A new group (workspace, key, topup, chat, ...) lives in `cli/<group>.py` and is added below in one line.
"""

from __future__ import annotations

import click

from cli import ledger
from cli.batch import batch
from cli.chat import chat
from cli.keys import key
from cli.topup import topup
from cli.webhook import webhook
from cli.workspace import workspace


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Operate a Luntrex Router stack (reads .run/stack.env, here or in its checkout, unless told otherwise).
    Prints JSON; exits non-zero with a message on any error."""


main.add_command(workspace)
main.add_command(key)
main.add_command(chat)
main.add_command(ledger.group)
main.add_command(topup)
main.add_command(webhook)
main.add_command(batch)

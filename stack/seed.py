"""Seeds the demo workspace, its starting credit and a demo API key: ``python -m stack.seed``.

An operator's step, so it lives with the stack, which may use both services' code: the workspace and its grant
through the ledger's journal, the key through ingress's key module. Prints shell-sourceable ``KEY=value`` lines.

Running it again reuses the workspace and its grant (both idempotent). A key's secret is stored only as a hash
and cannot be shown twice, so with ``--env-file`` the key recorded there is reused while it still
authenticates for the workspace, and a new one is minted (and recorded there, 0600) only when it does not.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ingress.keys import create_key, fingerprint
from ledger import journal
from runtime.settings import ServiceSettings
from stack import envfile

DEFAULT_WORKSPACE = "demo"
DEFAULT_STARTING_TOKENS = 50_000
DEMO_KEY_NAME = "demo key"


@dataclass(frozen=True)
class DemoKey:
    workspace_id: str
    key_id: str
    secret: str
    reused: bool

    def env_values(self) -> dict[str, str]:
        return {
            "LUNTREX_WORKSPACE_ID": self.workspace_id,
            "LUNTREX_API_KEY_ID": self.key_id,
            "LUNTREX_API_KEY": self.secret,
        }


async def seed(
    database_url: str, workspace_id: str, starting_tokens: int, recorded: dict[str, str] | None = None
) -> DemoKey:
    """Create the workspace and grant (idempotent); reuse the ``recorded`` key while valid, else mint one."""
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await _workspace_with_credit(conn, workspace_id, starting_tokens)
        if recorded and await _still_valid(engine, workspace_id, recorded):
            return DemoKey(workspace_id, recorded["LUNTREX_API_KEY_ID"], recorded["LUNTREX_API_KEY"], reused=True)
        async with engine.begin() as conn:
            key_id, secret = await create_key(conn, workspace_id, name=DEMO_KEY_NAME)
        return DemoKey(workspace_id, key_id, secret, reused=False)
    finally:
        await engine.dispose()


async def _workspace_with_credit(conn: AsyncConnection, workspace_id: str, starting_tokens: int) -> None:
    await journal.create_workspace(conn, workspace_id, name="Demo workspace")
    if starting_tokens > 0:
        await journal.grant(
            conn,
            workspace_id,
            starting_tokens,
            idempotency_key=f"grant:seed:{workspace_id}",
            detail={"reason": "demo starting balance"},
        )


async def _still_valid(engine: AsyncEngine, workspace_id: str, recorded: dict[str, str]) -> bool:
    """True when the recorded secret authenticates as the recorded key of this workspace (not revoked/expired)."""
    secret, key_id = recorded.get("LUNTREX_API_KEY"), recorded.get("LUNTREX_API_KEY_ID")
    if not secret or not key_id:
        return False
    async with engine.connect() as conn:
        live = (
            await conn.execute(
                text(
                    "SELECT 1 FROM api_keys WHERE secret_sha256 = :sha AND id = :id AND workspace_id = :ws "
                    "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"
                ),
                {"sha": fingerprint(secret), "id": key_id, "ws": workspace_id},
            )
        ).first()
    return live is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=DEFAULT_WORKSPACE)
    parser.add_argument("--tokens", type=int, default=DEFAULT_STARTING_TOKENS)
    parser.add_argument("--env-file", type=Path, help="reuse the demo key recorded here, and record it here")
    args = parser.parse_args()
    settings = ServiceSettings()
    recorded = envfile.read(args.env_file) if args.env_file else None
    key = asyncio.run(seed(settings.database_url, args.workspace, args.tokens, recorded))
    if args.env_file:
        envfile.update(args.env_file, key.env_values())
    for name, value in key.env_values().items():
        print(f"{name}={value}")
    print(f"LUNTREX_API_KEY_REUSED={'yes' if key.reused else 'no'}")


if __name__ == "__main__":
    main()

"""Seeds the demo workspace, its starting credit and a demo API key: `python -m ledger.seed`.

Prints shell-sourceable `KEY=value` lines. Running it again reuses the workspace and its grant (both are
idempotent) and mints a fresh key, since a key's secret is never stored and cannot be shown twice.
"""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy.ext.asyncio import create_async_engine

from ingress.keys import create_key
from ledger import journal
from ledger.settings import LedgerSettings


async def seed(database_url: str, workspace_id: str, starting_tokens: int) -> tuple[str, str]:
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await journal.create_workspace(conn, workspace_id, name="Demo workspace")
            if starting_tokens > 0:
                await journal.grant(
                    conn,
                    workspace_id,
                    starting_tokens,
                    idempotency_key=f"grant:seed:{workspace_id}",
                    detail={"reason": "demo starting balance"},
                )
            key_id, secret = await create_key(conn, workspace_id, name="demo key")
        return key_id, secret
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", default="demo")
    parser.add_argument("--tokens", type=int, default=50_000)
    args = parser.parse_args()
    settings = LedgerSettings()
    key_id, secret = asyncio.run(seed(settings.database_url, args.workspace, args.tokens))
    print(f"LUNTREX_WORKSPACE_ID={args.workspace}")
    print(f"LUNTREX_API_KEY_ID={key_id}")
    print(f"LUNTREX_API_KEY={secret}")


if __name__ == "__main__":
    main()

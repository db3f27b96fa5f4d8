"""Writes the catalogue's prices into the price book: `python -m ledger.price_seed` (idempotent; run at start-up).

Prints one line per version written; nothing when the price book already matches the catalogue.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import create_async_engine

from ledger import price_book
from ledger.settings import LedgerSettings


async def seed(settings: LedgerSettings) -> list[price_book.PriceVersion]:
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            return await price_book.seed_from_catalogue(conn, settings.load_catalogue())
    finally:
        await engine.dispose()


def main() -> None:
    for version in asyncio.run(seed(LedgerSettings())):
        print(f"price version {version.id}: {version.as_json()}")


if __name__ == "__main__":
    main()

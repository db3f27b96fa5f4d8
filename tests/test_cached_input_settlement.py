"""Cache reads in PostgreSQL: settled at the cached-input price recorded at admission, once however often the usage
arrives, and terms recorded without a cached price bill them at the input price.

Admission and settlement run as the ledger runs them (`tests.test_ledger_money`'s helpers), with a price-book version
of a model only this module uses, so no other test's bill moves.
"""

from __future__ import annotations

import math
from fractions import Fraction

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ledger import price_book
from schemas.catalogue import Catalogue, parse_catalogue
from tests.conftest import make_workspace
from tests.ledger_checks import balances, entries_for
from tests.test_ledger_money import admit, assert_book_verifies, entry_details, settle, submitted, usage_for

CATALOGUE = parse_catalogue("""
default_model = "m/cached-settle"
[providers.openai]
kind = "openai"
base_url = "https://api.openai.com/v1"
[[models]]
id = "m/cached-settle"
provider = "openai"
upstream = "cached-settle"
pool = "openai"
input_multiplier = "1"
output_multiplier = "1"
max_output_tokens = 1000
default_max_tokens = 100
context_tokens = 10000
template_tokens_fixed = 0
template_tokens_per_message = 0
""")
MODEL = "m/cached-settle"


async def publish(engine: AsyncEngine, catalogue: Catalogue, input_: str, output: str, cached: str) -> int:
    async with engine.begin() as conn:
        version = await price_book.publish_price(
            conn,
            catalogue,
            model_id=MODEL,
            input_multiplier=Fraction(input_),
            output_multiplier=Fraction(output),
            cached_input_multiplier=Fraction(cached),
            effective_at=None,
        )
    return version.id


async def test_usage_settled_again_and_again_is_charged_once_at_the_cached_price_recorded(engine: AsyncEngine) -> None:
    await publish(engine, CATALOGUE, "3/2", "5/3", "1/8")
    workspace = await make_workspace(engine, tokens=10_000)
    job = submitted(workspace.id, route=(MODEL,), estimate=200, max_tokens=90)
    [dispatch] = await admit(engine, CATALOGUE, job)
    assert isinstance(dispatch, tuple)
    # A hold prices the estimate at the input price, the dearer one: ceil(200 * 3/2 + 90 * 5/3).
    assert dispatch[1].hold_tokens == 450
    # A dearer price published after admission touches nothing of this job.
    await publish(engine, CATALOGUE, "9", "9", "9")

    usage = usage_for(job, model_id=MODEL, input_tokens=150, output_tokens=7, cached_input_tokens=120)
    expected = math.ceil(30 * Fraction(3, 2) + 120 * Fraction(1, 8) + 7 * Fraction(5, 3))  # 45 + 15 + 35/3 -> 72
    assert expected == 72
    # The same usage twice in one batch, then twice more in two later transactions.
    first = await settle(engine, CATALOGUE, usage, usage)
    again = [*await settle(engine, CATALOGUE, usage), *await settle(engine, CATALOGUE, usage)]

    assert {(r.cost_tokens, r.balance_left) for r in first + again} == {(expected, 10_000 - expected)}
    assert all(r.price is not None and r.price.cached_input == "1/8" for r in first + again)
    assert await entries_for(engine, job.job_id) == ["hold", "debit"]
    detail = (await entry_details(engine, job.job_id))["debit"]
    assert detail["price"] == {"input": "3/2", "output": "5/3", "cached_input": "1/8"}
    assert (detail["cached_input_tokens"], detail["priced_cost_tokens"]) == (120, expected)
    assert await balances(engine, workspace.id) == {
        "available": 10_000 - expected,
        "held": 0,
        "spent": expected,
        "funding": -10_000,
    }
    await assert_book_verifies(engine)


async def test_terms_recorded_without_a_cached_price_bill_cache_reads_at_the_input_price(engine: AsyncEngine) -> None:
    """A job an older ledger admitted (its terms name no cached price) settles as it would have, replays included."""
    await publish(engine, CATALOGUE, "2", "3", "1/10")
    workspace = await make_workspace(engine, tokens=10_000)
    job = submitted(workspace.id, route=(MODEL,), estimate=100, max_tokens=50)
    await admit(engine, CATALOGUE, job)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE jobs SET terms = jsonb_set(terms, ARRAY[:model], (terms -> :model) - 'cached_input') "
                "WHERE id = :id"
            ),
            {"model": MODEL, "id": job.job_id},
        )

    usage = usage_for(job, model_id=MODEL, input_tokens=80, output_tokens=10, cached_input_tokens=60)
    settled = [*await settle(engine, CATALOGUE, usage, usage), *await settle(engine, CATALOGUE, usage)]

    assert {r.cost_tokens for r in settled} == {80 * 2 + 10 * 3}
    assert {r.price.cached_input if r.price else None for r in settled} == {"2/1"}
    assert await entries_for(engine, job.job_id) == ["hold", "debit"]
    assert (await balances(engine, workspace.id))["spent"] == 190
    await assert_book_verifies(engine)

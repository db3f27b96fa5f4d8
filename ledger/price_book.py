"""Price-book versions per model: input, output and cached-input multipliers, each effective from a time.

Seeded from the catalogue (`seed_from_catalogue`, idempotent: run at every start-up, it writes a version only
for a model that has none, from the epoch, or whose catalogue price changed, from now). Admins publish later
versions, never in the past. A job is priced by the version in force when it was admitted, so a price
published afterwards never touches it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.finance_domain import FinanceInputError, fraction_text
from ledger.rates import not_in_the_past
from schemas.catalogue import Catalogue, ModelEntry

EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class PriceVersion:
    id: int
    model_id: str
    input: Fraction
    output: Fraction
    cached_input: Fraction
    effective_at: datetime

    def as_json(self) -> dict[str, object]:
        return {
            "version_id": self.id,
            "model_id": self.model_id,
            "input_multiplier": fraction_text(self.input),
            "output_multiplier": fraction_text(self.output),
            "cached_input_multiplier": fraction_text(self.cached_input),
            "effective_at": self.effective_at.isoformat(),
        }


_COLUMNS = (
    "id, model_id, input_num, input_den, output_num, output_den, cached_input_num, cached_input_den, effective_at"
)


def _version(row: object) -> PriceVersion:
    r = row._mapping  # type: ignore[attr-defined]
    return PriceVersion(
        id=r["id"],
        model_id=r["model_id"],
        input=Fraction(r["input_num"], r["input_den"]),
        output=Fraction(r["output_num"], r["output_den"]),
        cached_input=Fraction(r["cached_input_num"], r["cached_input_den"]),
        effective_at=r["effective_at"],
    )


def catalogue_prices(model: ModelEntry) -> tuple[Fraction, Fraction, Fraction]:
    """(input, output, cached input): the catalogue has no cached-input price yet, so it is the input price."""
    cached = getattr(model, "cached_input_multiplier", None)
    return model.input_price, model.output_price, Fraction(cached) if cached is not None else model.input_price


async def _insert(
    conn: AsyncConnection, model_id: str, prices: tuple[Fraction, Fraction, Fraction], at: object, source: str
) -> PriceVersion | None:
    row = (
        await conn.execute(
            text(
                "INSERT INTO price_versions (model_id, input_num, input_den, output_num, output_den, "
                "cached_input_num, cached_input_den, effective_at, source) "
                "VALUES (:m, :in_n, :in_d, :out_n, :out_d, :c_n, :c_d, CAST(:at AS timestamptz), :source) "
                "ON CONFLICT (model_id, effective_at) DO NOTHING RETURNING id, model_id, input_num, input_den, "
                "output_num, output_den, cached_input_num, cached_input_den, effective_at"
            ),
            {
                "m": model_id,
                "in_n": prices[0].numerator,
                "in_d": prices[0].denominator,
                "out_n": prices[1].numerator,
                "out_d": prices[1].denominator,
                "c_n": prices[2].numerator,
                "c_d": prices[2].denominator,
                "at": at,
                "source": source,
            },
        )
    ).first()
    return _version(row) if row is not None else None


async def seed_from_catalogue(conn: AsyncConnection, catalogue: Catalogue) -> list[PriceVersion]:
    """Write the catalogue's prices as versions where they are new; returns the versions written."""
    # Services start together: one seeds at a time, the others then find nothing to write.
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('price_versions seed'))"))
    rows = await conn.execute(
        text(
            f"SELECT DISTINCT ON (model_id) {_COLUMNS} FROM price_versions WHERE source = 'catalogue' "  # noqa: S608
            "ORDER BY model_id, effective_at DESC"
        )
    )
    latest = {version.model_id: version for version in map(_version, rows)}
    any_version = {row.model_id for row in await conn.execute(text("SELECT DISTINCT model_id FROM price_versions"))}
    written = []
    for model in catalogue.models:
        prices = catalogue_prices(model)
        current = latest.get(model.id)
        if current is not None and (current.input, current.output, current.cached_input) == prices:
            continue
        at = EPOCH if model.id not in any_version else None
        version = await _insert(conn, model.id, prices, at if at else await not_in_the_past(conn, None), "catalogue")
        if version is not None:
            written.append(version)
    return written


async def publish_price(
    conn: AsyncConnection,
    catalogue: Catalogue,
    *,
    model_id: str,
    input_multiplier: Fraction,
    output_multiplier: Fraction,
    cached_input_multiplier: Fraction | None,
    effective_at: datetime | None,
) -> PriceVersion:
    """Publish a price version for a catalogue model (an admin operation), effective now or later."""
    model = catalogue.resolve(model_id)
    if model is None:
        raise FinanceInputError(f"no model {model_id!r} in the catalogue")
    when = await not_in_the_past(conn, effective_at)
    cached = cached_input_multiplier if cached_input_multiplier is not None else input_multiplier
    version = await _insert(conn, model.id, (input_multiplier, output_multiplier, cached), when, "admin")
    if version is None:
        raise FinanceInputError(f"a price version of {model.id} effective at {when.isoformat()} already exists")
    return version


async def prices_at(conn: AsyncConnection, model_ids: list[str], at: datetime | None = None) -> dict[str, PriceVersion]:
    """The version in force for each model at a time (now by default); a model with none is absent."""
    if not model_ids:
        return {}
    rows = await conn.execute(
        text(
            f"SELECT DISTINCT ON (model_id) {_COLUMNS} FROM price_versions "  # noqa: S608
            "WHERE model_id = ANY(:ids) AND effective_at <= coalesce(CAST(:at AS timestamptz), now()) "
            "ORDER BY model_id, effective_at DESC"
        ),
        {"ids": model_ids, "at": at},
    )
    return {version.model_id: version for version in map(_version, rows)}


async def prices_for_job(conn: AsyncConnection, job_id: str, model_ids: list[str]) -> dict[str, PriceVersion]:
    """The versions a job is billed at: those in force when the job was admitted (its `created_at`)."""
    admitted_at = (
        await conn.execute(text("SELECT created_at FROM jobs WHERE id = :id"), {"id": job_id})
    ).scalar_one_or_none()
    if admitted_at is None:
        raise FinanceInputError(f"no job {job_id!r}")
    return await prices_at(conn, model_ids, admitted_at)

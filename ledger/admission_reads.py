"""What admission reads before it locks anything, in one round trip: the price-book versions in force for the
batch's models and the limits configured on its keys and workspaces.

Both are configuration an administrator changes rarely; reading them together saves two round trips per
admission batch (on the c=1 path, every job is its own batch). What the limits have used so far is read
later, under the accounts' locks (`limits.load_usage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger import driver, limits
from ledger.price_book import PriceVersion

# One row shape for three sources: a price version (a..f its multipliers' numerators and denominators), an api
# key's limits (a..d: rpm, tpm, daily and monthly spend caps) and a workspace's (a, b: rpm, tpm).
_READS = """
    SELECT 'price' AS source, CAST(p.id AS text) AS id, p.model_id, p.input_num AS a, p.input_den AS b,
           p.output_num AS c, p.output_den AS d, p.cached_input_num AS e, p.cached_input_den AS f, p.effective_at
    FROM (SELECT DISTINCT ON (model_id) * FROM price_versions
          WHERE model_id = ANY(CAST(%(models)s AS text[])) AND effective_at <= now()
          ORDER BY model_id, effective_at DESC) AS p
    UNION ALL
    SELECT 'key', k.id, NULL, k.rpm_max, k.tpm_max, k.daily_spend_max_tokens, k.monthly_spend_max_tokens,
           NULL, NULL, NULL
    FROM api_keys AS k
    WHERE k.id = ANY(CAST(%(keys)s AS text[])) AND (k.rpm_max IS NOT NULL OR k.tpm_max IS NOT NULL
          OR k.daily_spend_max_tokens IS NOT NULL OR k.monthly_spend_max_tokens IS NOT NULL)
    UNION ALL
    SELECT 'workspace', w.id, NULL, w.rpm_max, w.tpm_max, NULL, NULL, NULL, NULL, NULL
    FROM workspaces AS w
    WHERE w.id = ANY(CAST(%(workspaces)s AS text[])) AND (w.rpm_max IS NOT NULL OR w.tpm_max IS NOT NULL)
"""


@dataclass(frozen=True, slots=True)
class AdmissionReads:
    versions: dict[str, PriceVersion]
    book: limits.LimitBook


async def read(
    conn: AsyncConnection, *, models: list[str], keys: list[str], workspaces: list[str], now: datetime
) -> AdmissionReads:
    """The versions in force now (by model id; a model the book has none for is absent) and the limit book."""
    rows = await driver.fetch(conn, _READS, {"models": models, "keys": sorted(keys), "workspaces": sorted(workspaces)})
    versions: dict[str, PriceVersion] = {}
    configured_keys: list[limits.Configured] = []
    configured_workspaces: list[limits.Configured] = []
    for row in rows:
        if row["source"] == "price":
            versions[row["model_id"]] = PriceVersion(
                id=int(row["id"]),
                model_id=row["model_id"],
                input=Fraction(row["a"], row["b"]),
                output=Fraction(row["c"], row["d"]),
                cached_input=Fraction(row["e"], row["f"]),
                effective_at=row["effective_at"],
            )
        elif row["source"] == "key":
            configured_keys.append(limits.Configured(row["id"], row["a"], row["b"], row["c"], row["d"]))
        else:
            configured_workspaces.append(limits.Configured(row["id"], row["a"], row["b"]))
    return AdmissionReads(versions, limits.book_of(now, configured_keys, configured_workspaces))

"""A completion's per-request `webhook`: it must name (by URL or id) an enabled endpoint the workspace has
registered, so a request can never send results, or traffic, to an address nobody vetted."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from ingress.services import Services
from ledger import webhook_queries
from schemas.errors import InvalidRequest, ServiceUnavailable

log = logging.getLogger(__name__)


async def registered_endpoint(services: Services, workspace_id: str, reference: str | None) -> str | None:
    """The endpoint id `reference` names, None when there is no `webhook`; a 400 when it names none."""
    if reference is None:
        return None
    if not reference.isprintable() or not reference.isascii():
        raise InvalidRequest("webhook: printable ASCII only (a registered endpoint's URL or id)")
    try:
        async with services.engine.connect() as conn:
            endpoint_id = await webhook_queries.resolve(conn, workspace_id, reference)
    except SQLAlchemyError as exc:
        log.warning("could not read webhook endpoints: %s", exc)
        raise ServiceUnavailable(
            "the database is unavailable; nothing was accepted or charged", retry_after_s=1
        ) from exc
    if endpoint_id is None:
        raise InvalidRequest(
            "webhook: not an enabled webhook endpoint of this workspace; register it first (POST /api/v1/webhooks) "
            "and pass its URL or id"
        )
    return endpoint_id

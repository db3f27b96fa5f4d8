"""The ingress's collaborators, built once at start-up and shared by every route."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ingress.keys import KeyStore
from ingress.publisher import JobPublisher
from ingress.relay import OutboxRelay
from ingress.replies import ReplyWaiter
from ingress.settings import IngressSettings
from schemas.catalogue import Catalogue


@dataclass
class Services:
    settings: IngressSettings
    catalogue: Catalogue
    engine: AsyncEngine
    keys: KeyStore
    publisher: JobPublisher
    replies: ReplyWaiter
    relay: OutboxRelay

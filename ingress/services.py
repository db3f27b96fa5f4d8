"""The ingress's collaborators, built once at start-up and shared by every route."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ingress.admin_credential import AdminCredential
from ingress.early_start import EarlyStartGate
from ingress.key_directory import KeyDirectory
from ingress.ledger_commands import LedgerCommands
from ingress.publisher import JobPublisher
from ingress.relay import OutboxRelay
from ingress.replies import ReplyWaiter
from ingress.settings import IngressSettings
from ingress.stream_deltas import StreamDeltas
from schemas.catalogue import Catalogue


@dataclass
class Services:
    settings: IngressSettings
    catalogue: Catalogue
    engine: AsyncEngine
    keys: KeyDirectory
    publisher: JobPublisher
    replies: ReplyWaiter
    admin: AdminCredential
    commands: LedgerCommands
    relay: OutboxRelay
    streams: StreamDeltas
    early_starts: EarlyStartGate

"""The ledger's Faust app class: Faust's aiokafka transport with an idempotent producer.

Faust's producer waits for every in-sync replica (``producer_acks`` defaults to -1, ``acks=all``) but enables
idempotence only inside transactions, which the ledger does not use (Faust runs at-least-once here). Without
it a send retried after a lost acknowledgement (a broker killed mid-request, a leader moving) may be written
twice. Consumers would drop the copy by its idempotency key, but the other services' producers never write
one (runtime/kafka.py), and neither should the ledger's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.transports import TransportT


class IdempotentProducer(faust_aiokafka.Producer):
    """Every producer the transport creates has ``acks=all`` and ``enable_idempotence``."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


class IdempotentTransport(faust_aiokafka.Transport):
    Producer = IdempotentProducer


class LedgerApp(faust.App):
    """A Faust app whose consumer and producer transports are `IdempotentTransport`."""

    def _new_transport(self) -> TransportT:
        return IdempotentTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> TransportT:
        return IdempotentTransport(self.conf.broker_producer, self)

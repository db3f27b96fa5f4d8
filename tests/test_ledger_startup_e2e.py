"""The ledger starts clean: it subscribes only to topics the stack creates, and logs no error doing so.

A subscription to a topic nobody created (Faust's leader-election topic) made the broker auto-create it; the
consumer's next metadata refresh, five minutes later, then rebalanced every ledger and logged a false "no fetch
request since start" error per partition. An operator reading the log would chase a fault that is not there.
"""

from __future__ import annotations

import json

from aiokafka.admin import AIOKafkaAdminClient

from tests.conftest import Stack


def _errors(log_text: str) -> list[str]:
    errors = []
    for line in log_text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("level") in ("ERROR", "CRITICAL"):
            errors.append(str(record.get("message")))
    return errors


async def test_the_ledger_subscribes_to_no_topic_it_does_not_create(stack: Stack) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka)
    await admin.start()
    try:
        names = await admin.list_topics()
    finally:
        await admin.close()
    ours = {name for name in names if name.startswith(stack.topic_prefix)}
    assert f"{stack.topic_prefix}jobs.submitted" in ours
    assert not [name for name in ours if "__assignor" in name], sorted(ours)


def test_the_ledger_logs_no_error_while_starting(stack: Stack) -> None:
    # The first start only: tests that kill and restart the ledger append to the same log.
    log_text = stack.ledger.log_path.read_text(errors="replace")
    ready = log_text.find("ledger ready")
    assert ready > 0, stack.ledger.log_tail()
    startup = log_text[: log_text.find("\n", ready)]
    # A broker that has just started creates its offsets topic at the first group join, and aiokafka logs its wait
    # for the coordinator at ERROR: the broker's start, not the ledger's. Every other error counts.
    errors = [error for error in _errors(startup) if "GroupCoordinatorNotAvailable" not in error]
    assert errors == []

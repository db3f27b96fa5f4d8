"""The operator's admin API: workspaces the ledger creates, changes, suspends and credits; keys for any of them."""

from __future__ import annotations

import uuid

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from schemas import topics
from schemas.events import WorkspaceCommandAnswered, WorkspaceCommandIssued, decode, encode
from tests.conftest import ADMIN_KEY, Stack, make_workspace
from tests.ledger_checks import assert_books_balance, balances

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HELLO = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_an_operator_creates_a_workspace_whose_key_has_every_scope(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/admin/workspaces", json={"name": "Acme research", "grant_bdt": 10, "credit_line_tokens": 100}, headers=ADMIN
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "Acme research" and body["granted_tokens"] == 5_000
    assert body["balance"]["available_tokens"] == 5_000 and body["balance"]["credit_line_tokens"] == 100
    key = body["api_key"]
    assert key.startswith("lx_live_")

    answer = await client.post("/chat/completions", json=HELLO, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    assert (await client.get("/usage", headers=bearer(key))).status_code == 200
    minted = await client.post("/keys", json={"name": "ci"}, headers=bearer(key))
    assert minted.status_code == 201 and minted.json()["scopes"] == ["inference"]
    # The secret under the name creation gives it, beside the original `key`.
    assert minted.json()["api_key"] == minted.json()["key"]

    shown = (await client.get(f"/admin/workspaces/{body['id']}", headers=ADMIN)).json()
    assert shown["balance"]["spent_tokens"] == answer.json()["cost"]
    # One spelling of a timestamp: the creation answer writes created_at as every later read does.
    assert body["created_at"] == shown["created_at"] and body["created_at"].endswith("Z"), body["created_at"]

    # A rotated key's successor keeps its name, in the admin route and the workspace's own.
    admin_rotated = await client.post(f"/admin/keys/{minted.json()['id']}/rotate", json={"grace_s": 0}, headers=ADMIN)
    assert admin_rotated.status_code == 201, admin_rotated.text
    assert admin_rotated.json()["name"] == "ci" and admin_rotated.json()["api_key"] == admin_rotated.json()["key"]
    renamed = await client.post(
        f"/keys/{admin_rotated.json()['id']}/rotate", json={"grace_s": 0, "name": "ci-2"}, headers=bearer(key)
    )
    assert renamed.status_code == 201 and renamed.json()["name"] == "ci-2", renamed.text
    listed = (await client.get("/admin/workspaces", params={"limit": 500}, headers=ADMIN)).json()["data"]
    assert body["id"] in {workspace["id"] for workspace in listed}
    listing = (await client.get(f"/admin/workspaces/{body['id']}/keys", headers=ADMIN)).json()
    assert [k["name"] for k in listing["data"]] == ["owner key", "ci", "ci", "ci-2"]
    assert listing["workspace_id"] == body["id"]


async def test_update_suspend_and_resume_reach_the_keys_at_once(client: httpx.AsyncClient) -> None:
    created = (
        await client.post("/admin/workspaces", json={"name": "to suspend", "grant_tokens": 900}, headers=ADMIN)
    ).json()
    key, workspace_id = created["api_key"], created["id"]
    updated = await client.patch(
        f"/admin/workspaces/{workspace_id}",
        json={"name": "renamed", "default_model": "test/cheap", "rpm_max": 50},
        headers=ADMIN,
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["default_model"] == "test/cheap" and updated.json()["rpm_max"] == 50
    answer = await client.post("/chat/completions", json=HELLO, headers=bearer(key))
    assert answer.status_code == 200 and answer.json()["model"] == "test/cheap"

    suspended = await client.post(f"/admin/workspaces/{workspace_id}/suspend", headers=ADMIN)
    assert suspended.status_code == 200 and suspended.json()["suspended"] is True
    refused = await client.post("/chat/completions", json=HELLO, headers=bearer(key))
    assert refused.status_code == 403 and refused.json()["code"] == "workspace_suspended"
    assert (await client.get("/keys", headers=bearer(key))).json()["code"] == "workspace_suspended"

    assert (await client.post(f"/admin/workspaces/{workspace_id}/resume", headers=ADMIN)).status_code == 200
    assert (await client.post("/chat/completions", json=HELLO, headers=bearer(key))).status_code == 200


async def test_grants_are_exact_and_a_redelivered_command_grants_once(stack: Stack, engine: AsyncEngine) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        created = (await client.post("/admin/workspaces", json={"name": "grants"}, headers=ADMIN)).json()
        workspace_id = created["id"]
        for tokens in (1_000, 234):
            granted = await client.post(
                f"/admin/workspaces/{workspace_id}/grants", json={"tokens": tokens}, headers=ADMIN
            )
            assert granted.status_code == 201 and granted.json()["granted_tokens"] == tokens
        by_bdt = await client.post(f"/admin/workspaces/{workspace_id}/grants", json={"bdt": 3}, headers=ADMIN)
        assert by_bdt.json()["granted_tokens"] == 1_500 and by_bdt.json()["balance"] == 2_734

        # The same command delivered three times (a producer retry, a ledger crash before its commit) grants once.
        command = WorkspaceCommandIssued(
            workspace_id=workspace_id, job_id=f"cmd_{uuid.uuid4().hex}", action="grant", grant_tokens=66
        )
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
        await producer.start()
        try:
            for _ in range(3):
                await producer.send_and_wait(
                    topics.prefixed(stack.topic_prefix, topics.LEDGER_COMMANDS),
                    encode(command),
                    key=topics.ledger_key(workspace_id),
                )
        finally:
            await producer.stop()
        # A grant sent after the replays is answered only after them (same partition): then the sum is final.
        last = await client.post(f"/admin/workspaces/{workspace_id}/grants", json={"tokens": 1}, headers=ADMIN)
        assert last.json()["balance"] == 2_734 + 66 + 1
    assert (await balances(engine, workspace_id))["available"] == 2_801
    await assert_books_balance(engine)


async def test_a_grant_in_bdt_converts_at_the_rate_a_top_up_gets(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    created = (await client.post("/admin/workspaces", json={"name": "grant at rate"}, headers=ADMIN)).json()
    workspace_id = created["id"]
    # A workspace override, fractional so the top-up rounding rule (down, once, on the exact product) shows.
    rate = await client.post(
        f"/admin/workspaces/{workspace_id}/rates", json={"tokens_per_bdt": "1201/2", "reason": "deal"}, headers=ADMIN
    )
    assert rate.status_code == 201, rate.text
    granted = await client.post(f"/admin/workspaces/{workspace_id}/grants", json={"bdt": 3}, headers=ADMIN)
    assert granted.status_code == 201, granted.text
    bought = await client.post(
        f"/admin/workspaces/{workspace_id}/topups", json={"amount_bdt": "3", "method": "card"}, headers=ADMIN
    )
    assert bought.status_code == 201 and bought.json()["tokens"] == 1_801, bought.text
    # 3 BDT at 600.5 tokens per BDT is 1,801.5 tokens: 1,801 either way, never the 1,500 of the creation rate.
    assert granted.json()["granted_tokens"] == 1_801 and granted.json()["balance"] == 1_801
    assert (await balances(engine, workspace_id))["available"] == 3_602
    await assert_books_balance(engine)


async def test_a_bdt_grant_redelivered_after_a_rate_change_credits_once_at_its_first_rate(
    client: httpx.AsyncClient, stack: Stack, engine: AsyncEngine
) -> None:
    workspace_id = (await client.post("/admin/workspaces", json={"name": "grant replay"}, headers=ADMIN)).json()["id"]
    command = WorkspaceCommandIssued(
        workspace_id=workspace_id, job_id=f"cmd_{uuid.uuid4().hex}", action="grant", grant_bdt=2
    )
    replies = AIOKafkaConsumer(bootstrap_servers=stack.kafka)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
    await replies.start()
    await producer.start()
    try:
        replies_topic = topics.prefixed(stack.topic_prefix, topics.LEDGER_REPLIES)
        partitions = replies.partitions_for_topic(replies_topic) or await _partitions(replies, replies_topic)
        replies.assign([TopicPartition(replies_topic, partition) for partition in partitions])
        await replies.seek_to_end()
        for tp in replies.assignment():
            await replies.position(tp)

        async def deliver() -> None:
            await producer.send_and_wait(
                topics.prefixed(stack.topic_prefix, topics.LEDGER_COMMANDS),
                encode(command),
                key=topics.ledger_key(workspace_id),
            )

        await deliver()  # at the platform's 500 tokens per BDT: 1,000 tokens
        answers = await _answers_to(replies, command.job_id, count=1)
        rate = await client.post(
            f"/admin/workspaces/{workspace_id}/rates", json={"tokens_per_bdt": "600", "reason": "deal"}, headers=ADMIN
        )
        assert rate.status_code == 201, rate.text
        await deliver()  # the same command again (a producer retry, a crash before the offset commit)
        answers += await _answers_to(replies, command.job_id, count=1)
    finally:
        await producer.stop()
        await replies.stop()
    # Credited once, at the rate in force when it was first applied; the replay answers what the book holds.
    assert [answer.granted_tokens for answer in answers] == [1_000, 1_000]
    assert (await balances(engine, workspace_id))["available"] == 1_000
    await assert_books_balance(engine)


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    cluster = await consumer._client.fetch_all_metadata()
    return set(cluster.partitions_for_topic(topic) or ())


async def _answers_to(consumer: AIOKafkaConsumer, job_id: str, *, count: int) -> list[WorkspaceCommandAnswered]:
    answers: list[WorkspaceCommandAnswered] = []
    for _ in range(300):
        batches = await consumer.getmany(timeout_ms=100)
        for records in batches.values():
            for record in records:
                if record.value is not None and job_id.encode() in record.value:
                    answers.append(decode(WorkspaceCommandAnswered, record.value))
        if len(answers) >= count:
            return answers
    raise AssertionError(f"{len(answers)} answers to {job_id} within 30 s, expected {count}")


async def test_admin_endpoints_refuse_workspace_keys_and_strangers(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=100)
    for method, path in [
        ("GET", "/admin/workspaces"),
        ("POST", f"/admin/workspaces/{workspace.id}/grants"),
        ("POST", f"/admin/workspaces/{workspace.id}/suspend"),
        ("POST", f"/admin/workspaces/{workspace.id}/keys"),
        ("POST", "/admin/batches/batch_" + "0" * 32 + "/cancel"),
    ]:
        as_workspace = await client.request(method, path, json={"tokens": 10**9}, headers=workspace.headers)
        assert as_workspace.status_code == 403 and as_workspace.json()["code"] == "admin_only", as_workspace.text
        stranger = await client.request(method, path, json={}, headers=bearer(ADMIN_KEY + "x"))
        assert stranger.status_code == 401 and stranger.json()["code"] == "invalid_api_key"
        anonymous = await client.request(method, path, json={})
        assert anonymous.status_code == 401
    assert (await balances(engine, workspace.id))["available"] == 100


async def test_bad_admin_input_is_refused_and_others_keep_working(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    bystander = await make_workspace(engine, tokens=1_000)
    bad_bodies = [
        {"name": ""},
        {"name": "x" * 101},
        {"name": "nul\x00name"},
        {"name": "bell\x07"},
        {"name": "ok", "credit_line_tokens": -1},
        {"name": "ok", "grant_tokens": 0},
        {"name": "ok", "grant_bdt": -5},
        {"name": "ok", "rpm_max": 0},
        {"name": "ok", "tpm_max": 10**30},
        {"name": "ok", "id": "../etc"},
        {"name": "ok", "id": "UPPER"},
        {"name": "ok", "grant_tokens": "1000"},
        {"name": "ok", "owner": "me"},
    ]
    for body in bad_bodies:
        response = await client.post("/admin/workspaces", json=body, headers=ADMIN)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["code"] == "invalid_request" and response.json()["request_id"]
    unknown_model = await client.post(
        "/admin/workspaces", json={"name": "m", "default_model": "no/such"}, headers=ADMIN
    )
    assert unknown_model.status_code == 404 and unknown_model.json()["code"] == "model_not_found"
    missing = await client.post("/admin/workspaces/ws_nope/grants", json={"tokens": 5}, headers=ADMIN)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    both = await client.post(f"/admin/workspaces/{bystander.id}/grants", json={"tokens": 5, "bdt": 1}, headers=ADMIN)
    assert both.status_code == 400
    # Both opening grants would credit their sum: refused as the grants route refuses both, and nothing is created.
    both_id = f"ws-both-{uuid.uuid4().hex[:8]}"
    both_grants = await client.post(
        "/admin/workspaces", json={"name": "both", "id": both_id, "grant_tokens": 5, "grant_bdt": 5}, headers=ADMIN
    )
    assert both_grants.status_code == 400, both_grants.text
    refusal = both_grants.json()
    assert (
        refusal["code"] == "invalid_request" and "grant_tokens" in refusal["error"] and "grant_bdt" in refusal["error"]
    )
    assert (await client.get(f"/admin/workspaces/{both_id}", headers=ADMIN)).status_code == 404
    taken = await client.post("/admin/workspaces", json={"name": "other", "id": bystander.id}, headers=ADMIN)
    assert taken.status_code == 409 and taken.json()["code"] == "conflict"

    answer = await client.post("/chat/completions", json=HELLO, headers=bystander.headers)
    assert answer.status_code == 200, answer.text


async def test_a_poisoned_command_costs_only_itself(stack: Stack, client: httpx.AsyncClient) -> None:
    created = (await client.post("/admin/workspaces", json={"name": "poisoned"}, headers=ADMIN)).json()
    topic = topics.prefixed(stack.topic_prefix, topics.LEDGER_COMMANDS)
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka)
    await producer.start()
    try:
        key = topics.ledger_key(created["id"])
        for poison in [b"\x00\xff not json", b'{"type": "workspace.command.issued", "action": "explode"}', b"{}"]:
            await producer.send_and_wait(topic, poison, key=key)
    finally:
        await producer.stop()
    # Same partition, behind the poison: still applied and answered.
    granted = await client.post(f"/admin/workspaces/{created['id']}/grants", json={"tokens": 7_000}, headers=ADMIN)
    assert granted.status_code == 201 and granted.json()["balance"] == 7_000
    answer = await client.post("/chat/completions", json=HELLO, headers=bearer(created["api_key"]))
    assert answer.status_code == 200, answer.text


async def test_hostile_ids_in_paths_are_refused_and_others_keep_working(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    bystander = await make_workspace(engine, tokens=1_000)
    for hostile in ["%00", "ws%00x", "a%1bb", "x" * 300, "%E2%80%AE"]:
        for method, path in [
            ("GET", f"/admin/workspaces/{hostile}"),
            ("PATCH", f"/admin/workspaces/{hostile}"),
            ("POST", f"/admin/workspaces/{hostile}/suspend"),
            ("POST", f"/admin/workspaces/{hostile}/grants"),
            ("POST", f"/admin/workspaces/{hostile}/keys"),
            ("GET", f"/admin/workspaces/{hostile}/keys"),
            ("POST", f"/admin/keys/{hostile}/rotate"),
            ("DELETE", f"/admin/keys/{hostile}"),
        ]:
            body = {"tokens": 5} if path.endswith("grants") else {}
            response = await client.request(method, path, json=body, headers=ADMIN)
            assert response.status_code in (400, 404), (method, path, response.text)
            assert response.json()["code"] in ("not_found", "invalid_request")
        for method, path in [("POST", f"/keys/{hostile}/rotate"), ("DELETE", f"/keys/{hostile}")]:
            response = await client.request(method, path, json={}, headers=bystander.headers)
            # A control character is named as a 400 at the door; any other stranger id is simply absent.
            assert response.status_code in (400, 404), (method, path, response.text)
            assert response.json()["code"] in ("not_found", "invalid_request")
    assert (await client.post("/chat/completions", json=HELLO, headers=bystander.headers)).status_code == 200

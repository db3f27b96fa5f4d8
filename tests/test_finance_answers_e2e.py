"""Finance writes answer what they stored: the auto top-up PUT answers what `GET /api/v1/balance` then shows."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import make_workspace


async def test_the_auto_topup_put_answers_the_stored_setting(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=10_000)
    body = {"threshold_tokens": 5_000, "amount_bdt": "12.5", "method": "card"}
    put = await client.put("/billing/auto-topup", json=body, headers=workspace.headers)
    assert put.status_code == 200, put.text
    shown = (await client.get("/balance", headers=workspace.headers)).json()["auto_topup"]
    assert put.json() == {"auto_topup": shown}
    assert shown == {
        "threshold_tokens": 5_000,
        "amount_paisa": 1_250,
        "amount_bdt": "12.50",
        "method": "card",
        "enabled": True,
        "armed": True,
        "fired_times": 0,
    }

    # Above the balance the setting is stored disarmed, and the answer says so; paisa in, both units out.
    body = {"threshold_tokens": 20_000, "amount_paisa": 50_000, "enabled": False}
    put = await client.put("/billing/auto-topup", json=body, headers=workspace.headers)
    assert put.status_code == 200, put.text
    shown = (await client.get("/balance", headers=workspace.headers)).json()["auto_topup"]
    assert put.json() == {"auto_topup": shown}
    assert (shown["amount_paisa"], shown["amount_bdt"], shown["method"]) == (50_000, "500.00", "invoice")
    assert (shown["enabled"], shown["armed"]) == (False, False)

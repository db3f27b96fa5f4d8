"""The billing console in a real headless Chromium against the real services.

What a finance lead or team admin does: sign in, see the balance move after a completion, mint and revoke a
key (the revoked key is then refused by the API), edit a key's guardrails (the API then blocks that key and no
other; also as the operator, from the Workspaces page), set an alert threshold, export a statement that reconciles
with the API, and read clear errors instead of a blank page. Also: nothing is loaded from another origin,
the key never appears in a URL or in persistent storage, and the layout holds at 1280 px and at 390 px.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ADMIN_KEY, Stack, Workspace, make_workspace
from tests.console_browser import LAUNCH_ARGS, chromium_path

GRANT = 50_000
CONSOLE_CSS = Path(__file__).resolve().parents[1] / "ingress" / "console" / "console.css"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=LAUNCH_ARGS)
        yield browser
        await browser.close()


def origin(stack: Stack) -> str:
    return stack.base_url.removesuffix("/api/v1")


@pytest.fixture
async def page(browser: Browser, stack: Stack) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    # Every request the console made went to its own origin: no CDN, no third party.
    assert requested and all(url.startswith((origin(stack), "data:", "blob:")) for url in requested), [
        url for url in requested if not url.startswith(origin(stack))
    ]
    await context.close()


async def sign_in(page: Page, stack: Stack, key: str) -> None:
    await page.goto(f"{origin(stack)}/console")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("navigation", name="Console")).to_be_visible()


async def completion(stack: Stack, workspace: Workspace) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=60) as client:
        answer = await client.post(
            f"{stack.base_url}/chat/completions",
            headers=workspace.headers,
            json={"messages": [{"role": "user", "content": "hello console"}], "max_tokens": 16},
        )
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def number(text: str) -> int:
    return int(text.replace(",", ""))


async def test_the_overview_shows_the_balance_move_after_a_completion(
    page: Page, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    await sign_in(page, stack, workspace.api_key)
    balance = page.locator(".card", has_text="Balance").locator(".value")
    await expect(balance).to_have_text("50,000")

    answer = await completion(stack, workspace)
    await page.reload()
    await expect(balance).to_have_text(f"{answer['balance_left']:,}")
    spent_today = page.locator(".card", has_text="Spent today").locator(".value")
    assert number(await spent_today.inner_text()) == answer["cost"]
    await expect(page.locator("svg.chart")).to_be_visible()

    # The key lives in the tab's session storage only: never in the URL, never in local storage.
    assert workspace.api_key not in page.url
    assert await page.evaluate("() => localStorage.length") == 0
    assert workspace.api_key in await page.evaluate("() => sessionStorage.getItem('luntrex.console.session')")


async def test_usage_and_the_spend_chart_count_a_job_with_several_tags_once(
    page: Page, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    hello = {"messages": [{"role": "user", "content": "hello console"}], "max_tokens": 16}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        for body in ({**hello, "tags": ["a", "b", "<script>x</script>"]}, hello):
            assert (await client.post("/chat/completions", json=body, headers=workspace.headers)).status_code == 200
        totals = (await client.get("/usage", headers=workspace.headers)).json()["totals"]
    await sign_in(page, stack, workspace.api_key)

    # The chart's bars add up to what was debited.
    await expect(page.locator("svg.chart")).to_be_visible()
    bars = await page.locator("svg.chart rect title").all_text_contents()
    assert sum(number(re.findall(r": ([0-9,]+) tokens", bar)[0]) for bar in bars) == totals["cost_tokens"], bars

    await page.get_by_role("link", name="Usage").click()
    table = page.locator("section", has_text="Usage").locator("table")
    for group in ("Day", "Model", "Key"):
        await page.get_by_label("Group by").select_option(label=group)
        await expect(table.locator("th").first).to_have_text(group)
        cells = await table.locator("tbody tr").first.locator("td").all_inner_texts()
        assert await table.locator("tbody tr").count() == 1
        assert [number(cell) for cell in cells[1:]] == [
            totals["jobs"],
            totals["input_tokens"],
            totals["output_tokens"],
            totals["cost_tokens"],
        ], (group, cells)
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Export CSV").click()
    exported = list(
        csv.reader(io.StringIO(await asyncio.to_thread(Path(await (await download_info.value).path()).read_text)))
    )
    assert exported[0] == ["Key", "Jobs", "Input tokens", "Output tokens", "Cost (tokens)"]
    assert sum(int(row[4]) for row in exported[1:]) == totals["cost_tokens"]

    # By tag, a job counts under each of its tags, and the page says so with the period's true total.
    await page.get_by_label("Group by").select_option(label="Tag")
    await expect(table.locator("th").first).to_have_text("Tag")
    names = sorted(await table.locator("tbody tr td:first-child").all_inner_texts())
    assert names == ["(none)", "<script>x</script>", "a", "b"]
    note = page.locator("[data-usage-note]")
    await expect(note).to_contain_text("counts once under each of its tags")
    await expect(note).to_contain_text(f"{totals['cost_tokens']:,} tokens over 2 jobs")


async def test_a_key_minted_in_the_console_works_and_once_revoked_is_refused(
    page: Page, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    await sign_in(page, stack, workspace.api_key)
    await page.get_by_role("link", name="Keys").click()
    await page.get_by_label("Name").fill("console-minted")
    await page.get_by_role("button", name="Mint key").click()
    secret = await page.locator("[data-secret]").inner_text()
    assert secret.startswith("lx_live_")
    minted = Workspace(id=workspace.id, api_key=secret, key_id="")
    await completion(stack, minted)

    row = page.locator("tr", has_text="console-minted")
    await row.get_by_role("button", name="Revoke").click()
    await page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    await expect(page.get_by_role("status")).to_contain_text("revoked")
    await expect(row).to_contain_text("revoked")
    async with httpx.AsyncClient(timeout=30) as client:
        refused = await client.get(f"{stack.base_url}/balance", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 401


async def test_a_keys_guardrails_edited_in_the_console_bind_that_key_only(
    page: Page, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        minted = await client.post("/keys", headers=workspace.headers, json={"name": "console-guarded"})
    contractor = Workspace(id=workspace.id, api_key=minted.json()["key"], key_id=minted.json()["id"])
    await sign_in(page, stack, workspace.api_key)
    await page.get_by_role("link", name="Keys").click()
    row = page.locator("tr", has_text="console-guarded")
    await expect(row).to_contain_text("none")
    await row.get_by_role("button", name="Guardrails").click()
    detail = page.get_by_role("region", name=f"Key console-guarded ({contractor.key_id})")
    await expect(detail).to_contain_text("Guardrails: none")

    # A rule RE2 cannot compile is refused with the API's message, and nothing changes.
    editor = detail.get_by_label("Guardrails (JSON)")
    await editor.fill(json.dumps({"deny": [{"name": "look", "pattern": "(?<=a)b"}]}))
    await detail.get_by_role("button", name="Save guardrails").click()
    await expect(detail.get_by_role("alert")).to_contain_text("rule 'look': not a valid RE2 pattern")
    await editor.fill("{not json")
    await detail.get_by_role("button", name="Save guardrails").click()
    await expect(detail.get_by_role("alert")).to_contain_text("not JSON")

    await editor.fill(json.dumps({"deny": [{"name": "tickets", "pattern": "ACME-[0-9]+"}]}))
    await detail.get_by_role("button", name="Save guardrails").click()
    await expect(page.get_by_role("status")).to_contain_text("saved")
    await expect(detail).to_contain_text("deny: tickets")
    await expect(row).to_contain_text("deny: tickets")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        prompt = {"messages": [{"role": "user", "content": "close ACME-42"}], "max_tokens": 16}
        blocked = await client.post("/chat/completions", json=prompt, headers=contractor.headers)
        assert blocked.status_code == 400 and "this key's guardrail 'tickets'" in blocked.json()["error"]
        assert (await client.post("/chat/completions", json=prompt, headers=workspace.headers)).status_code == 200

    await detail.get_by_role("button", name="Remove guardrails").click()
    await page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    await expect(page.get_by_role("status")).to_contain_text("removed")
    await expect(detail).to_contain_text("Guardrails: none")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        assert (await client.post("/chat/completions", json=prompt, headers=contractor.headers)).status_code == 200


async def test_an_alert_threshold_set_in_the_console_is_in_force(page: Page, stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    await sign_in(page, stack, workspace.api_key)
    await page.get_by_role("link", name="Billing").click()
    await page.get_by_label("N or P").fill("12345")
    await page.get_by_role("button", name="Add threshold").click()
    await expect(page.get_by_role("status")).to_contain_text("Threshold added")
    await expect(
        page.locator("section", has_text="Alert thresholds").locator("td", has_text="12,345 tokens")
    ).to_be_visible()
    async with httpx.AsyncClient(timeout=30) as client:
        balance = (await client.get(f"{stack.base_url}/balance", headers=workspace.headers)).json()
    assert [(t["kind"], t["threshold_tokens"], t["armed"]) for t in balance["alert_thresholds"]] == [
        ("absolute", 12_345, True)
    ]


async def test_a_statement_exported_from_the_console_reconciles_with_the_api(
    page: Page, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    for _ in range(3):
        await completion(stack, workspace)
    await sign_in(page, stack, workspace.api_key)
    await page.get_by_role("link", name="Ledger").click()
    await expect(page.locator("section", has_text="Entries").locator("tbody tr").first).to_be_visible()
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download CSV").click()
    download = await download_info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)

    async with httpx.AsyncClient(timeout=30) as client:
        statement = (await client.get(f"{stack.base_url}/ledger/statement", headers=workspace.headers)).json()
    rows = list(csv.reader(io.StringIO(text)))
    header = rows.index(next(row for row in rows if row and row[0] == "entry_id"))
    entries = rows[header + 1 :]
    deltas = sum(int(row[6]) for row in entries)
    assert deltas == statement["closing_balance_tokens"] - statement["opening_balance_tokens"]
    assert int(entries[-1][-1]) == statement["closing_balance_tokens"]


async def test_a_batch_uploaded_in_the_console_runs_and_its_results_download(
    page: Page, stack: Stack, engine: AsyncEngine, tmp_path: Path
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    lines = [
        {
            "custom_id": f"console-{index}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "openai/gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8},
        }
        for index in range(3)
    ]
    upload = tmp_path / "batch.jsonl"
    await asyncio.to_thread(upload.write_text, "".join(json.dumps(line) + "\n" for line in lines))
    await sign_in(page, stack, workspace.api_key)
    await page.get_by_role("link", name="Batches").click()
    await page.get_by_label("JSONL file (OpenAI batch lines)").set_input_files(str(upload))
    await page.get_by_role("button", name="Upload").click()
    await expect(page.get_by_role("status")).to_contain_text("3 requests")
    # The live counts reach the end by polling.
    await expect(page.locator("section", has_text="Batch batch_").locator("p").first).to_contain_text(
        "completed 3", timeout=90_000
    )
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download results").click()
    download = await download_info.value
    text = await asyncio.to_thread(Path(await download.path()).read_text)
    results = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert sorted(result["custom_id"] for result in results) == ["console-0", "console-1", "console-2"]


async def test_errors_show_as_messages_not_blank_pages(page: Page, stack: Stack, engine: AsyncEngine) -> None:
    await page.goto(f"{origin(stack)}/console")
    await page.get_by_label("API key").fill("lx_live_000000000000_not-a-real-secret")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not accepted")

    # An inference-only key signs in, and the pages it may not read say why.
    workspace = await make_workspace(engine, tokens=GRANT)
    async with httpx.AsyncClient(timeout=30) as client:
        minted = await client.post(f"{stack.base_url}/keys", headers=workspace.headers, json={"name": "inference only"})
    await sign_in(page, stack, minted.json()["key"])
    await page.get_by_role("link", name="Ledger").click()
    await expect(page.get_by_role("alert").first).to_contain_text("billing")
    await page.get_by_role("link", name="Keys").click()
    await expect(page.get_by_role("alert").first).to_contain_text("manage")


async def test_a_manage_only_key_signs_in_and_a_suspended_workspace_is_told_so(
    page: Page, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        minted = await client.post("/keys", headers=workspace.headers, json={"name": "keeper", "scopes": ["manage"]})
    assert minted.status_code == 201, minted.text
    # It lands on Keys (what it is for), names its workspace, and a page it may not read says which scope it lacks.
    await sign_in(page, stack, minted.json()["key"])
    await expect(page.get_by_role("heading", name="Keys", level=1)).to_be_visible()
    await expect(page.get_by_role("navigation", name="Console")).to_contain_text(f"Workspace {workspace.id}")
    await expect(page.locator("tr", has_text="keeper")).to_be_visible()
    await page.get_by_role("link", name="Overview").click()
    await expect(page.get_by_role("alert").first).to_contain_text("this key lacks the 'inference' scope")
    await page.get_by_role("link", name="Ledger").click()
    await expect(page.get_by_role("alert").first).to_contain_text("this key lacks the 'billing' scope")
    await page.get_by_role("button", name="Sign out").click()

    suspended = await make_workspace(engine, tokens=GRANT)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        answer = await client.post(
            f"/admin/workspaces/{suspended.id}/suspend", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        )
    assert answer.status_code == 200, answer.text
    await page.get_by_label("API key").fill(suspended.api_key)
    await page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text(f"workspace '{suspended.id}' is suspended; contact your administrator")
    await expect(alert).not_to_contain_text("not accepted")
    await expect(page.get_by_role("navigation", name="Console")).to_have_count(0)


async def test_the_admin_credential_sees_every_workspace_and_grants_credit(
    page: Page, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    await sign_in(page, stack, ADMIN_KEY)
    await expect(page.get_by_role("heading", name="Workspaces", level=1)).to_be_visible()
    await page.get_by_role("button", name=workspace.id).click()
    await page.get_by_label("Tokens to grant").fill("777")
    await page.get_by_role("button", name="Grant", exact=True).click()
    await expect(page.get_by_role("status")).to_contain_text("Granted 777 tokens")
    async with httpx.AsyncClient(timeout=30) as client:
        balance = (await client.get(f"{stack.base_url}/balance", headers=workspace.headers)).json()
    assert balance["balance_tokens"] == GRANT + 777


async def test_the_admin_sets_a_keys_guardrails_from_the_workspaces_page_and_the_api_enforces_them(
    page: Page, stack: Stack, engine: AsyncEngine
) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        minted = await client.post("/keys", headers=workspace.headers, json={"name": "admin-guarded"})
    guarded = Workspace(id=workspace.id, api_key=minted.json()["key"], key_id=minted.json()["id"])
    await sign_in(page, stack, ADMIN_KEY)
    await page.get_by_role("button", name=workspace.id).click()
    keys = page.get_by_role("region", name=f"Keys of {workspace.id}")
    row = keys.locator("tr", has_text="admin-guarded")
    await expect(row).to_contain_text("none")
    await row.get_by_role("button", name="Guardrails").click()
    detail = page.get_by_role("region", name=f"Key admin-guarded ({guarded.key_id})")
    await expect(detail).to_contain_text("Guardrails: none")

    # A refusal shows the API's message; then a valid set is saved through the admin route.
    editor = detail.get_by_label("Guardrails (JSON)")
    await editor.fill(json.dumps({"deny": [{"name": "look", "pattern": "(?<=a)b"}]}))
    await detail.get_by_role("button", name="Save guardrails").click()
    await expect(detail.get_by_role("alert")).to_contain_text("rule 'look': not a valid RE2 pattern")
    await editor.fill(json.dumps({"deny": [{"name": "orders", "pattern": "ORDER-[0-9]+"}]}))
    await detail.get_by_role("button", name="Save guardrails").click()
    await expect(page.get_by_role("status")).to_contain_text("saved")
    await expect(detail).to_contain_text("deny: orders")
    await expect(row).to_contain_text("deny: orders")

    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        shown = (await client.get(f"/admin/keys/{guarded.key_id}/guardrails", headers=admin)).json()
        assert [rule["name"] for rule in shown["guardrails"]["deny"]] == ["orders"]
        # What the operator set is imposed: the workspace's own key sees it as such.
        own = (await client.get(f"/keys/{guarded.key_id}/guardrails", headers=workspace.headers)).json()
        assert [rule["name"] for rule in own["imposed"]["deny"]] == ["orders"]
        prompt = {"messages": [{"role": "user", "content": "ship ORDER-7"}], "max_tokens": 16}
        blocked = await client.post("/chat/completions", json=prompt, headers=guarded.headers)
        assert blocked.status_code == 400 and "guardrail 'orders'" in blocked.json()["error"], blocked.text
        assert (await client.post("/chat/completions", json=prompt, headers=workspace.headers)).status_code == 200

    await detail.get_by_role("button", name="Remove guardrails").click()
    await page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    await expect(page.get_by_role("status")).to_contain_text("removed")
    await expect(detail).to_contain_text("Guardrails: none")
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        assert (await client.post("/chat/completions", json=prompt, headers=guarded.headers)).status_code == 200


async def test_the_console_is_served_locally_with_a_strict_policy(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=origin(stack), timeout=30) as client:
        page = await client.get("/console")
        assert page.status_code == 200
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(source.startswith(("/console/", "#", "data:")) for source in sources)
        for source in sources:
            if source.startswith("/console/"):
                assert (await client.get(source)).status_code == 200, source
        assert (await client.get("/console/assets/../routes/console.py")).status_code == 404
        assert (await client.get("/console/assets/%2e%2e/app.py")).status_code == 404


async def test_the_layout_holds_on_a_phone_width(browser: Browser, stack: Stack, engine: AsyncEngine) -> None:
    workspace = await make_workspace(engine, tokens=GRANT)
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    page = await context.new_page()
    await sign_in(page, stack, workspace.api_key)
    for name in ("Overview", "Usage", "Billing", "Ledger", "Docs"):
        await page.get_by_role("link", name=name).click()
        await expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"{name} scrolls sideways at 390 px ({width} px wide)"
    # Keyboard: on a fresh load the first tab stop is the skip link, then the navigation.
    await page.reload()
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    await page.keyboard.press("Tab")
    assert await page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    await context.close()


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    return (int(hex_colour[1:3], 16) / 255, int(hex_colour[3:5], 16) / 255, int(hex_colour[5:7], 16) / 255)


def _over(top: tuple[float, float, float], alpha: float, under: tuple[float, float, float]) -> tuple[float, ...]:
    return tuple(t * alpha + u * (1 - alpha) for t, u in zip(top, under, strict=True))


def _luminance(rgb: tuple[float, ...]) -> float:
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_text_colours_meet_wcag_aa_on_the_glass_panels() -> None:
    css = CONSOLE_CSS.read_text()
    colour = {name: _rgb(value) for name, value in re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css)}
    # The brightest a panel gets: the background under the accent glow (22 %), then the strongest glass (9 % white).
    glow = _over((90 / 255, 120 / 255, 1.0), 0.22, colour["bg"])
    panel = _over((1.0, 1.0, 1.0), 0.09, glow)  # type: ignore[arg-type]
    for name in ("text", "muted", "accent", "danger", "ok"):
        ratio = _contrast(colour[name], panel)
        assert ratio >= 4.5, f"--{name} has contrast {ratio:.2f} on the panels"
    assert _contrast(colour["accent"], colour["accent-ink"]) >= 4.5

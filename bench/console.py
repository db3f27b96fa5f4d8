"""``python -m bench console``: each console page's first render in a real Chromium, on a workspace with a large
ledger, and screenshots of every page at 1280 px and 390 px into ``docs/console/``.

Starts the dev stack when it is not up (``python -m stack up``), creates a workspace, writes ``--entries``
journal entries into it (grants of one token, in batches, through the ledger's own journal code) plus a few
real completions, then opens each page and reads the console's own Performance API measure (`console:<page>`:
from the route's start to the page drawn with its data) and the page load's time to that point. Results go to
``bench/results/console.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

import httpx
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy.ext.asyncio import create_async_engine

from bench import stackctl
from bench.workspace import BillingProbe
from ledger import domain, journal
from stack.profiles import REPO_ROOT

PAGES = ("overview", "usage", "keys", "billing", "ledger", "batches", "webhooks", "docs")
WIDTHS = (1280, 390)
SHOTS_DIR = REPO_ROOT / "docs" / "console"
RESULTS = REPO_ROOT / "bench" / "results" / "console.json"
SEED_BATCH = 2_000
RENDERS_PER_PAGE = 5
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]


async def seed_entries(database_url: str, workspace_id: str, entries: int) -> float:
    """`entries` one-token grants, SEED_BATCH per transaction; returns the seconds it took."""
    started = time.perf_counter()
    engine = create_async_engine(database_url, pool_size=1)
    try:
        for first in range(0, entries, SEED_BATCH):
            batch = [
                journal.Entry(
                    f"console-bench:{workspace_id}:{index}",
                    "grant",
                    workspace_id,
                    None,
                    domain.grant_postings(workspace_id, 1),
                    {"reason": "python -m bench console"},
                )
                for index in range(first, min(entries, first + SEED_BATCH))
            ]
            async with engine.begin() as conn:
                await journal.lock_accounts(conn, {workspace_id})
                await journal.record_entries(conn, batch)
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def sign_in(page: Page, base: str, key: str, kind: str, workspace_id: str | None) -> None:
    await page.goto(f"{base}/console")
    session = json.dumps({"key": key, "kind": kind, "workspaceId": workspace_id})
    await page.evaluate("(s) => sessionStorage.setItem('luntrex.console.session', s)", session)


async def measure(page: Page, base: str, name: str) -> dict[str, float]:
    """Load the page fresh and read how long its first render took (route start -> data drawn) and the time
    from navigation start to that moment."""
    await page.goto(f"{base}/console#/{name}")
    await page.reload()
    await page.wait_for_function(f"() => performance.getEntriesByName('console:{name}').length > 0", timeout=60_000)
    entry = await page.evaluate(f"() => performance.getEntriesByName('console:{name}')[0].toJSON()")
    return {"render_ms": float(entry["duration"]), "since_navigation_ms": float(entry["startTime"] + entry["duration"])}


async def pages(browser: Browser, base: str, key: str, workspace_id: str, shots: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for width in WIDTHS:
        context = await browser.new_context(viewport={"width": width, "height": 900 if width > 500 else 844})
        page = await context.new_page()
        if shots:
            await page.goto(f"{base}/console")
            await page.wait_for_selector("form.signin")
            await page.screenshot(path=str(SHOTS_DIR / f"signin-{width}.png"))
        await sign_in(page, base, key, "workspace", workspace_id)
        for name in PAGES:
            samples = [await measure(page, base, name) for _ in range(RENDERS_PER_PAGE if width == WIDTHS[0] else 1)]
            if width == WIDTHS[0]:
                figures[name] = {
                    "render_ms_median": statistics.median(s["render_ms"] for s in samples),
                    "render_ms_max": max(s["render_ms"] for s in samples),
                    "since_navigation_ms_median": statistics.median(s["since_navigation_ms"] for s in samples),
                }
            if shots:
                await page.screenshot(path=str(SHOTS_DIR / f"{name}-{width}.png"), full_page=True)
        await context.close()
    return figures


async def admin_shots(browser: Browser, base: str, admin_key: str) -> None:
    for width in WIDTHS:
        context = await browser.new_context(viewport={"width": width, "height": 900 if width > 500 else 844})
        page = await context.new_page()
        await sign_in(page, base, admin_key, "admin", None)
        await measure(page, base, "workspaces")
        await page.screenshot(path=str(SHOTS_DIR / f"workspaces-admin-{width}.png"), full_page=True)
        await context.close()


async def run(entries: int, shots: bool, chromium: str) -> dict[str, Any]:
    session = stackctl.bring_up()
    base = session.base_url.removesuffix("/api/v1")
    probe = BillingProbe(session.database_url)
    try:
        workspace = await probe.create()
        seeded_s = await seed_entries(session.database_url, workspace.workspace_id, entries)
        async with httpx.AsyncClient(base_url=session.base_url, timeout=60) as client:
            headers = {"Authorization": f"Bearer {workspace.api_key}"}
            for index in range(20):
                body = {"messages": [{"role": "user", "content": f"console bench {index}"}], "max_tokens": 32}
                (await client.post("/chat/completions", json=body, headers=headers)).raise_for_status()
        SHOTS_DIR.mkdir(parents=True, exist_ok=True)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            figures = await pages(browser, base, workspace.api_key, workspace.workspace_id, shots)
            admin_key = session.env.get("LUNTREX_ADMIN_KEY")
            if shots and admin_key:
                await admin_shots(browser, base, admin_key)
            await browser.close()
    finally:
        await probe.close()
        stackctl.restore(session)
    return {
        "benchmark": "console first render",
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "ledger_entries_in_workspace": entries + 1 + 20 * 2,
        "seed_seconds": round(seeded_s, 1),
        "renders_per_page": RENDERS_PER_PAGE,
        "target_ms": 300,
        "pages": figures,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench console", description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000, help="ledger entries to seed (default 100000)")
    parser.add_argument("--no-shots", action="store_true", help="measure only; leave docs/console/ alone")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the Chromium to drive")
    arguments = parser.parse_args(argv)
    result = asyncio.run(run(arguments.entries, not arguments.no_shots, arguments.chromium))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    for name, figure in result["pages"].items():
        verdict = "ok" if figure["render_ms_median"] <= result["target_ms"] else "OVER"
        print(
            f"{name:10s} first render median {figure['render_ms_median']:7.1f} ms  "
            f"max {figure['render_ms_max']:7.1f} ms  {verdict}"
        )
    print(
        f"wrote {RESULTS.relative_to(REPO_ROOT)}"
        + ("" if arguments.no_shots else f" and screenshots in {SHOTS_DIR.relative_to(REPO_ROOT)}")
    )
    return 0

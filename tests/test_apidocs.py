"""The running server serves the committed OpenAPI document, and its Swagger UI and ReDoc pages load every
script and style sheet from the server itself (no CDN)."""

from __future__ import annotations

import hashlib
from html.parser import HTMLParser
from urllib.parse import urljoin, urlparse

import httpx
import pytest

from ingress import apidocs, docs_pages
from tests.conftest import Stack


class _Assets(HTMLParser):
    """The URLs a page makes the browser fetch: scripts, style sheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "img") and found.get("src"):
            self.urls.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.urls.append(str(found["href"]))


def _root(stack: Stack) -> str:
    return stack.base_url.removesuffix("/api/v1") + "/"


async def test_the_running_server_serves_the_committed_document(stack: Stack) -> None:
    async with httpx.AsyncClient() as client:
        served = (await client.get(_root(stack) + "openapi.json")).json()
    assert apidocs.render(served) == apidocs.OPENAPI_PATH.read_text()


@pytest.mark.parametrize(("page", "script"), [("docs", "swagger-ui-bundle.js"), ("redoc", "redoc.standalone.js")])
async def test_docs_pages_load_every_asset_from_the_server(stack: Stack, page: str, script: str) -> None:
    root = _root(stack)
    async with httpx.AsyncClient() as client:
        html = await client.get(root + page)
        assert html.status_code == 200
        parser = _Assets()
        parser.feed(html.text)
        assert any(url.endswith(script) for url in parser.urls), parser.urls
        for url in parser.urls:
            absolute = urljoin(root + page, url)
            assert urlparse(absolute).netloc == urlparse(root).netloc, f"{page} loads {url} from elsewhere"
            asset = await client.get(absolute)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000, url
            name = urlparse(absolute).path.rsplit("/", 1)[-1]
            assert hashlib.sha256(asset.content).hexdigest() == docs_pages.ASSET_SHA256[name], url
    assert "cdn" not in html.text.lower()
    assert "fonts.googleapis" not in html.text

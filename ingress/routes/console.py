"""The billing console at `/console`: static files served by the app itself (nothing from a CDN).

The console is a client of the public API only: it holds the signed-in key in the browser tab's session
storage and calls `/api/v1/...` like any other client. Here we serve its files with a strict
Content-Security-Policy (scripts and styles from this origin only, no inline code), so even a value that
slipped into the page could not run.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from schemas.errors import NotFound

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
POSTMAN_COLLECTION = Path(__file__).resolve().parents[2] / "docs" / "luntrex.postman_collection.json"
MEDIA_TYPES = {".html": "text/html", ".css": "text/css", ".js": "text/javascript", ".json": "application/json"}
# Every asset by its path under /console/assets/: anything else is a 404, whatever the path says.
ASSETS = {
    path.relative_to(CONSOLE_DIR).as_posix(): path
    for path in sorted(CONSOLE_DIR.rglob("*"))
    if path.is_file() and path.suffix in MEDIA_TYPES and path.name != "index.html"
}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}

router = APIRouter(include_in_schema=False)


@router.get("/console")
async def console_page() -> FileResponse:
    return FileResponse(
        CONSOLE_DIR / "index.html", media_type="text/html", headers={**SECURITY_HEADERS, "cache-control": "no-cache"}
    )


@router.get("/console/assets/{name:path}")
async def console_asset(name: str) -> FileResponse:
    path = ASSETS.get(name)
    if path is None:
        raise NotFound(f"no console asset {name[:100]!r}")
    return FileResponse(
        path, media_type=MEDIA_TYPES[path.suffix], headers={**SECURITY_HEADERS, "cache-control": "no-cache"}
    )


@router.get("/console/postman.json")
async def postman_collection() -> FileResponse:
    if not POSTMAN_COLLECTION.is_file():
        raise NotFound("this installation ships no Postman collection")
    return FileResponse(
        POSTMAN_COLLECTION,
        media_type="application/json",
        headers={**SECURITY_HEADERS, "content-disposition": 'attachment; filename="luntrex.postman_collection.json"'},
    )

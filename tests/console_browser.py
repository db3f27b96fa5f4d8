"""A real headless Chromium for the console tests (Debian's `chromium`, driven by Playwright).

`make test` installs the package when it is missing and we are root; otherwise the tests fail with what to
install. Playwright's own browser downloads are never used: they need a CDN this build does not have.
"""

from __future__ import annotations

import os
import shutil

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


def chromium_path() -> str:
    explicit = os.environ.get("LUNTREX_CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError("no chromium for the console tests: `apt-get install chromium` (make test does it as root)")


# --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
LAUNCH_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"]

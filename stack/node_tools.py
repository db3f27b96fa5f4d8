"""The Node.js tools the tests run, installed into `.cache/node` from a lockfile: `python -m stack.node_tools`.

newman runs the Postman collection and the `openai` npm package runs the JavaScript snippets. Both are pinned
in `tests/node/package.json` with every transitive package's checksum in `tests/node/package-lock.json`;
`npm ci` installs exactly that (no install scripts), again only when the lockfile changed. Needs `node` and
`npm` on the PATH (the machine's Node.js).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST_DIR = ROOT / "tests" / "node"
INSTALL_DIR = ROOT / ".cache" / "node"
STAMP = ".lock.sha256"
INSTALL_TIMEOUT_S = 600


class NodeToolsError(RuntimeError):
    """Node.js or npm is missing, or `npm ci` failed."""


def newman_bin(install_dir: Path = INSTALL_DIR) -> Path:
    return install_dir / "node_modules" / ".bin" / "newman"


def ensure(install_dir: Path = INSTALL_DIR) -> Path:
    """Install the locked packages into `install_dir` unless that exact lockfile is installed already."""
    lock = (MANIFEST_DIR / "package-lock.json").read_bytes()
    digest = hashlib.sha256(lock + (MANIFEST_DIR / "package.json").read_bytes()).hexdigest()
    stamp = install_dir / STAMP
    if stamp.is_file() and stamp.read_text() == digest and newman_bin(install_dir).exists():
        return install_dir
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise NodeToolsError("node and npm are needed for the API docs tests: apt-get install nodejs npm")
    install_dir.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(MANIFEST_DIR / name, install_dir / name)
    done = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=install_dir,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise NodeToolsError(f"npm ci failed in {install_dir}: {done.stderr.strip()[-2000:]}")
    stamp.write_text(digest)
    return install_dir


def main() -> None:
    try:
        print(f"node tools in {ensure()}")
    except NodeToolsError as exc:
        sys.exit(str(exc))


if __name__ == "__main__":
    main()

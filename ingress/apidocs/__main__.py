"""`python -m ingress.apidocs [--check]`: write (or check) the OpenAPI document, Postman files and snippets."""

from __future__ import annotations

import argparse
import shutil
import sys

from ingress import apidocs


def main() -> None:
    parser = argparse.ArgumentParser(description=apidocs.__doc__)
    parser.add_argument("--check", action="store_true", help="only report files that differ from the app")
    args = parser.parse_args()
    files = apidocs.generated_files(apidocs.openapi_document())
    if args.check:
        stale = apidocs.drifted(files)
        for path in stale:
            print(f"differs from the app: {path}")
        sys.exit(1 if stale else 0)
    shutil.rmtree(apidocs.SNIPPETS_DIR, ignore_errors=True)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files under {apidocs.DOCS}")


if __name__ == "__main__":
    main()

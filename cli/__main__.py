"""`python -m cli` runs the `luntrex` command (the same as the console script)."""

from __future__ import annotations

from cli.main import main

if __name__ == "__main__":
    main()

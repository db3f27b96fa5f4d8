"""`python -m cli ...`, the same as the `luntrex` console script."""

from cli.main import main

main()

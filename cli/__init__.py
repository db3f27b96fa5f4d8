"""The `luntrex` command line: operations on a running stack, one command group per module."""

"""The `luntrex` command line: operators' and developers' commands over the HTTP API."""

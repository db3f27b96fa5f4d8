"""Benchmarks of the local stack: ``python -m bench`` (sync path, full pipeline vs the fake provider
directly) and ``python -m bench profile`` (py-spy of each service under load). See README.md, "Benchmarks".
"""

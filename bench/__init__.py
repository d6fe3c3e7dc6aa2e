"""Benchmarks for alb-oidc: `uv run python -m bench` (see docs/benchmarks.md).

Run on demand, never as part of the test suite: the figures depend on the machine, so they are
printed and written down, not asserted.
"""

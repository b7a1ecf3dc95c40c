"""Benchmarks of xtt; run each from the repository root with `python -m bench.NAME`."""

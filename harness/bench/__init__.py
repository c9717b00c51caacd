"""Benchmarks (not tests): ``python -m harness.bench.<name>`` prints measured numbers."""

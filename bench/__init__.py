"""Benchmarks: `make bench` (minutes) and `make bench-scale` (long)."""

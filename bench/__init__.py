"""Benchmarks: each prints its figures and ratios (not tests)."""

"""Benchmarks: each prints its figures against a naive baseline (see README)."""

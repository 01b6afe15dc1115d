"""Benchmarks: `python -m bench.embed`, `bench.search`, `bench.harvest`, `bench.memory` (`make bench` runs all).

Each prints a table for people and, as its last line, one JSON object with the figures.
"""

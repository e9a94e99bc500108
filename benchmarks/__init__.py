"""Benchmarks of GeoLabel, run as scripts (``make bench``); see README.md."""

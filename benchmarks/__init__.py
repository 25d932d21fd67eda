"""``make bench``: IAM call counts, wall time and memory of the collection strategies
(BENCHMARKS.md)."""

"""Benchmarks (BENCHMARKS.md) and the long reliability runs (RELIABILITY.md), run from the repository root, e.g.
`python -m bench` or `python -m bench.camera_soak`; `streams/` serves the test cameras."""

"""The performance suite: ``python -m bench`` (see docs/performance.md)."""

"""The performance suite: ``python -m bench`` (see README, Performance)."""

"""Driver kinds: one package each (``CONFIG``, ``create`` and optional ``SCAN`` / ``SIMULATE``
commands; see :mod:`gateway.sdk`)."""

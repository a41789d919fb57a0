"""Sparkplug B edge node mode (``[sparkplug] enabled = true``): see :mod:`gateway.sparkplug.node`.

:mod:`gateway.sparkplug.data` is all the publisher imports when Sparkplug is off; the protobuf
runtime is loaded only by :mod:`gateway.sparkplug.payloads`.
"""

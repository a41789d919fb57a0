"""The ``sensor-gateway`` command line: :mod:`gateway.cli.main` and one module per command."""

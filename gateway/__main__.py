"""``python -m gateway``: the same as the ``sensor-gateway`` command."""

import sys

from gateway.cli import entry

sys.exit(entry())

"""``python -m gateway``: the same as the ``sensor-gateway`` command."""

import sys

from gateway.cli.main import main

sys.exit(main())

"""The ``sensor-gateway`` command line: :mod:`gateway.cli.main` and one module per command.

:func:`entry` is the console script: before anything heavy is imported it makes SIGINT and
SIGTERM stop the command (a shell's background job inherits SIGINT *ignored*); once a command's
event loop runs, the loop handles both (:func:`gateway.sdk.run_until_stopped`, the daemon's own
shutdown).
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

__all__ = ["entry"]


def _stop(_signum: int, _frame: FrameType | None) -> None:
    """SIGINT or SIGTERM during start-up: nothing of the command exists yet (each takes both
    signals over in its event loop before it creates anything), so leave at once, status 0.
    Raising KeyboardInterrupt here instead is not safe: during an import, importlib's module
    lock callbacks swallow it (the command then runs on) or it escapes as an exit by SIGINT."""
    os._exit(0)


def entry() -> int:
    """``sensor-gateway``: stop on SIGINT/SIGTERM from the first instant, with exit status 0."""
    # SIGTERM first: a supervisor (or a test) that sees SIGINT caught may send SIGTERM at once.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        from gateway.cli.main import main  # noqa: PLC0415 - after the signals are ours

        return main()
    except KeyboardInterrupt:  # SIGINT after a command's event loop gave the signal back
        return 0
    finally:
        sys.stdout.flush()

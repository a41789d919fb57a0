"""Reading sysfs/procfs files (in the executor's threads) and describing what went wrong."""

from __future__ import annotations

import errno
import os
from pathlib import Path

__all__ = ["GONE_ERRNOS", "MAX_READ", "absolute_path", "errno_name", "is_gone", "read_text",
           "reason"]

MAX_READ = 8192  # a sysfs attribute is at most one page; anything longer is not ours to parse

# The file or its device is not there (any more): removed, unbound, unplugged.
GONE_ERRNOS = frozenset({errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.ENOTDIR})


def read_text(path: str | os.PathLike[str]) -> str:
    """The whole file as text (a FIFO: until its writer closes), at most ``MAX_READ`` bytes.

    Blocking: call it through the executor. Raises ``OSError`` as the kernel reports it."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = b""
        while len(data) <= MAX_READ:
            chunk = os.read(fd, MAX_READ + 1 - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    return data[:MAX_READ].decode("utf-8", "replace")


def is_gone(exc: OSError) -> bool:
    return exc.errno in GONE_ERRNOS


def errno_name(exc: OSError) -> str:
    return errno.errorcode.get(exc.errno or 0, "OSError")


def reason(exc: OSError) -> str:
    """``No such device (ENODEV)``: the kernel's words and the errno's name."""
    text = exc.strerror or type(exc).__name__
    return f"{text} ({errno_name(exc)})"


def absolute_path(value: str) -> str:
    """A config path (``root``, ``proc``, ``disk_path``) must be absolute."""
    if not Path(value).is_absolute():
        raise ValueError('must be an absolute path (like "/sys")')
    return value

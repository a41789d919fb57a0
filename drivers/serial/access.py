"""Why a serial port could not be opened, said so that an operator can act on it.

``EPERM`` ("Operation not permitted") on ``open()`` of a device node is not a file permission
problem (that is ``EACCES``): a device policy refused it. Under the systemd unit
(``deploy/sensor-gateway.service``, ``DevicePolicy=closed``) the kernel lets the service open
only the devices the unit lists, whatever the node's mode says. The message then names the unit
and the exact ``DeviceAllow=`` line that lets this port in (docs/drivers/serial.md).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

__all__ = ["allow_lines", "open_failure", "probe_open", "reason",
           "refused_by_policy", "systemd_unit"]

PROC_DEVICES = Path("/proc/devices")
PROC_CGROUP = Path("/proc/self/cgroup")
# A whole driver (char-NAME) is offered only for a serial driver's own major: its name starts
# with "tty", and it is not 4 (the virtual consoles tty0..63 beside ttyS) or 5 (/dev/tty,
# /dev/console, /dev/ptmx). Anything else (major 1 "mem" holds /dev/mem) gets its node only.
SHARED_MAJORS = frozenset({4, 5})


def open_failure(port: str, exc: BaseException) -> str:
    """The reason ``port`` could not be opened, for ``cannot open <port>: <reason>``."""
    if getattr(exc, "errno", None) != errno.EPERM:
        return reason(exc)
    return refused_by_policy(port, os.strerror(errno.EPERM))


def reason(exc: BaseException) -> str:
    """An OS or pyserial error as its message, without the ``[Errno N]`` prefix."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return re.sub(r"^\[Errno \d+\] ", "", str(text))


def probe_open(port: str) -> str:
    """Why ``port`` cannot be opened, found by opening it (for a library that does not say:
    pymodbus's ``connect()`` only returns False); empty if it opens now."""
    try:
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        return open_failure(port, exc)
    os.close(fd)
    return ""


def refused_by_policy(port: str, error: str) -> str:
    """``error`` (the OS's words for EPERM), why, and what to do about it."""
    unit = systemd_unit()
    lines = allow_lines(port)
    if unit is None:
        return (f"{error}: a device policy refused it (a container's or a service's device "
                f"cgroup); allow {_describe(lines)} there")
    if not lines:
        return (f"{error}: refused by the device policy of {unit}; allow it with "
                f"`systemctl edit {unit}` and a DeviceAllow= line for the port's device "
                "number (ls -l shows it)")
    text = (f"{error}: refused by the device policy of {unit} (DevicePolicy=closed lets in "
            f"only the devices the unit lists). To allow this port: sudo systemctl edit "
            f'{unit}, add the lines "[Service]" and "{lines[0]}", then sudo systemctl restart '
            f"{unit}")
    if len(lines) > 1:
        text += f' (or "{lines[1]}" for every port of that driver)'
    return text


def allow_lines(port: str) -> list[str]:
    """``DeviceAllow=`` lines for ``port``: this node by number, then (where the major is the
    driver's own) every node of its driver by name. Empty when ``port`` is not a char device."""
    try:
        rdev = os.stat(port).st_rdev
    except OSError:
        return []
    if rdev == 0:
        return []
    major, minor = os.major(rdev), os.minor(rdev)
    lines = [f"DeviceAllow=/dev/char/{major}:{minor} rw"]
    name = _driver_name(major)
    if name is not None and name.startswith("tty") and major not in SHARED_MAJORS:
        lines.append(f"DeviceAllow=char-{name} rw")
    return lines


def systemd_unit() -> str | None:
    """The systemd service this process runs in (None outside one)."""
    if not os.environ.get("INVOCATION_ID"):  # systemd sets it for every unit it starts
        return None
    try:
        text = PROC_CGROUP.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        last = line.rsplit("/", 1)[-1]
        if last.endswith(".service"):
            return last
    return None


def _driver_name(major: int) -> str | None:
    """The character device group of ``major`` in /proc/devices (``188`` -> ``ttyUSB``)."""
    try:
        text = PROC_DEVICES.read_text()
    except OSError:
        return None
    chars = text.split("Block devices:")[0]
    for line in chars.splitlines():
        number, _, name = line.strip().partition(" ")
        if number == str(major) and name:
            return name.strip()
    return None


def _describe(lines: list[str]) -> str:
    return f"its device number ({lines[0].split('=', 1)[1]})" if lines else "the device"

"""What w1_therm's sysfs files say, as millidegrees Celsius (pure functions).

Formats from the kernel (``drivers/w1/slaves/w1_therm.c``, ``Documentation/ABI/testing/
sysfs-driver-w1_therm``, ``Documentation/w1/slaves/w1_therm.rst``):

- ``temperature`` (kernels >= 5.9): ``"%d\\n"`` millidegrees; empty when the conversion or the
  CRC check failed.
- ``w1_slave``: two lines, the scratchpad's 9 bytes in hex then ``: crc=XX YES`` (or ``NO``),
  and the same 9 bytes then ``t=<millidegrees>``. Kernels >= 5.9 return nothing at all when the
  read failed; older ones print ``NO``.

A DS18B20 measures -55..125 °C: anything outside (-127 °C, the 127.94 °C "insufficient power"
value) is a bad read. 85 °C is its power-on reset value: the driver confirms it with a second
read (:data:`POWER_ON`).
"""

from __future__ import annotations

import re

from gateway.sdk import DecodeError

__all__ = ["MAX_VALID", "MIN_VALID", "POWER_ON", "parse_temperature", "parse_w1_slave"]

POWER_ON = 85_000
MIN_VALID, MAX_VALID = -55_000, 125_000
_NUMBER = re.compile(r"-?[0-9]+", re.ASCII)
_BYTES = r"((?:[0-9a-f]{2} ){9})"
_CRC_LINE = re.compile(_BYTES + r": crc=[0-9a-f]{2} (YES|NO)", re.ASCII)
_T_LINE = re.compile(_BYTES + r"t=(-?[0-9]+)", re.ASCII)


def parse_temperature(text: str) -> int:
    """The ``temperature`` file: millidegrees, checked against the chip's range."""
    body = text.strip()
    if not body:
        raise DecodeError("empty read (the kernel's conversion or CRC check failed)", kind="empty")
    if not _NUMBER.fullmatch(body):
        raise DecodeError("not a number of millidegrees", kind="unparsable")
    return in_range(int(body))


def parse_w1_slave(text: str) -> int:
    """The ``w1_slave`` file: the CRC verdict, then millidegrees checked against the range."""
    lines = text.strip().splitlines()
    if not lines:
        raise DecodeError("empty read (the kernel's conversion or CRC check failed)", kind="empty")
    crc = _CRC_LINE.fullmatch(lines[0].strip())
    t = _T_LINE.fullmatch(lines[1].strip()) if len(lines) == 2 else None
    if crc is None or t is None:
        raise DecodeError("not the two lines of w1_slave", kind="unparsable")
    if crc[2] == "NO":
        raise DecodeError("CRC check failed (crc=.. NO)", kind="crc")
    if set(crc[1].split()) == {"00"}:
        raise DecodeError("all-zero scratchpad: nothing answered on the bus", kind="crc")
    return in_range(int(t[2]))


def in_range(millidegrees: int) -> int:
    if not MIN_VALID <= millidegrees <= MAX_VALID:
        raise DecodeError(f"{millidegrees / 1000:g} °C is outside the thermometer's -55..125 °C",
                          kind="out_of_range")
    return millidegrees

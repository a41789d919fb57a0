"""The host's health from /proc and /sys (pure parsers of the kernel's text formats).

- ``<root>/class/thermal/thermal_zone0/temp``: millidegrees Celsius (``"%d\\n"``).
- ``<proc>/loadavg``: ``"0.52 0.58 0.59 1/389 12345"`` (proc(5)).
- ``<proc>/meminfo``: ``"MemTotal:  3885124 kB"`` lines; used = total - MemAvailable (proc(5)).
- ``<proc>/uptime``: ``"350735.47 234388.90"``, seconds since boot (proc(5)).
- ``statvfs(path)``: used = blocks - free, of (used + available to users), as ``df`` shows it.
- ``<root>/firmware/devicetree/base/model``: the board (``"Raspberry Pi 4 Model B Rev 1.4\\0"``);
  else ``<root>/class/dmi/id/sys_vendor`` and ``product_name`` (a PC).
- ``<root>/devices/platform/soc/soc:firmware/get_throttled``: the Pi firmware's flags as
  ``"%x\\n"`` (Raspberry Pi kernel, ``drivers/firmware/raspberrypi.c``; bits from the Pi
  documentation of ``vcgencmd get_throttled``).
"""

from __future__ import annotations

import os
import re

from gateway.sdk import DecodeError

__all__ = ["FLAGS", "SENSORS", "disk_used", "host_model", "parse_loadavg", "parse_meminfo",
           "parse_thermal", "parse_throttled", "parse_uptime"]

# bit -> sensor name (on/off); bits 16.. say "has happened since boot".
FLAGS: dict[int, str] = {
    0: "under_voltage", 1: "frequency_capped", 2: "throttled", 3: "soft_temp_limit",
    16: "under_voltage_occurred", 17: "frequency_capped_occurred", 18: "throttled_occurred",
    19: "soft_temp_limit_occurred",
}
# sensor name -> unit; the flags are on/off (1/0) without a unit.
SENSORS: dict[str, str | None] = {
    "cpu_temperature": "°C", "load_1m": None, "memory_used": "%", "disk_used": "%",
    "uptime": "s", **dict.fromkeys(FLAGS.values()),
}
_INT = re.compile(r"-?[0-9]+", re.ASCII)
_FLOAT = re.compile(r"[0-9]+(?:\.[0-9]+)?", re.ASCII)
_HEX = re.compile(r"(?:0x)?[0-9a-fA-F]{1,8}", re.ASCII)
_MEMINFO = re.compile(r"^(MemTotal|MemAvailable):\s+([0-9]+) kB$", re.MULTILINE | re.ASCII)


def _fields(text: str, what: str) -> list[str]:
    fields = text.split()
    if not fields:
        raise DecodeError(f"{what}: empty read", kind="empty")
    return fields


def parse_thermal(text: str) -> float:
    body = _fields(text, "temp")[0]
    if not _INT.fullmatch(body):
        raise DecodeError("temp: not millidegrees", kind="unparsable")
    return int(body) / 1000


def parse_loadavg(text: str) -> float:
    return _float(_fields(text, "loadavg")[0], "loadavg")


def parse_uptime(text: str) -> float:
    return round(_float(_fields(text, "uptime")[0], "uptime"))


def _float(body: str, what: str) -> float:
    if not _FLOAT.fullmatch(body):
        raise DecodeError(f"{what}: not a number", kind="unparsable")
    return float(body)


def parse_meminfo(text: str) -> float:
    """Memory in use, percent: (MemTotal - MemAvailable) / MemTotal."""
    found = dict(_MEMINFO.findall(text))
    if "MemTotal" not in found or "MemAvailable" not in found:
        raise DecodeError("meminfo: no MemTotal/MemAvailable lines", kind="unparsable")
    total, available = int(found["MemTotal"]), int(found["MemAvailable"])
    if total <= 0 or available > total:
        raise DecodeError("meminfo: MemAvailable does not fit MemTotal", kind="unparsable")
    return round(100 * (total - available) / total, 1)


def disk_used(stat: os.statvfs_result) -> float:
    """Percent of the filesystem in use, as ``df`` computes it."""
    used = stat.f_blocks - stat.f_bfree
    usable = used + stat.f_bavail
    if usable <= 0:
        raise DecodeError("statvfs: an empty filesystem", kind="unparsable")
    return round(100 * used / usable, 1)


def parse_throttled(text: str) -> dict[str, float]:
    """Each flag of ``get_throttled`` as 1.0 (set) or 0.0."""
    body = _fields(text, "get_throttled")[0]
    if not _HEX.fullmatch(body):
        raise DecodeError("get_throttled: not a hex number", kind="unparsable")
    bits = int(body, 16)
    return {name: float(bits >> bit & 1) for bit, name in FLAGS.items()}


def host_model(devicetree: str | None, vendor: str | None, product: str | None,
               ) -> tuple[str | None, str] | None:
    """(maker, model) of the host from the device tree's model or the DMI strings, if any."""
    model = (devicetree or "").replace("\0", "").strip()
    if model:
        return ("Raspberry Pi Ltd" if model.startswith("Raspberry Pi") else None), model[:80]
    product = (product or "").strip()
    if product:
        return ((vendor or "").strip()[:40] or None), product[:80]
    return None

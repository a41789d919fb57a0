"""A sysfs and a procfs tree laid out as the Linux kernel lays them out, for the sysfs drivers.

The drivers take ``root = ...`` (and ``proc = ...``) and read these trees exactly as they read
``/sys`` and ``/proc`` on a Raspberry Pi: same directories, same symlinks, same file names, same
text formats and units. Sources:

- 1-Wire: ``drivers/w1/w1.c`` (``/sys/bus/w1/devices/<id>`` links to
  ``../../../devices/w1_bus_masterN/<id>``; the master's ``w1_master_*`` files),
  ``drivers/w1/slaves/w1_therm.c`` and ``Documentation/ABI/testing/sysfs-driver-w1_therm``
  (``w1_slave``: ``"%02x " x 9 ": crc=%02x YES|NO\\n"`` then ``"%02x " x 9 "t=%d\\n"``;
  ``temperature``: ``"%d\\n"`` millidegrees, empty on a failed read; DS18B20 t = s16 x 1000 / 16,
  truncated as C does), the DS18B20 datasheet (scratchpad bytes, power-on 0x0550 = 85 °C, the
  Dallas/Maxim CRC-8 of Maxim application note 27).
- IIO: ``Documentation/ABI/testing/sysfs-bus-iio`` (``iio:deviceN`` under the parent device,
  linked from ``/sys/bus/iio/devices``; ``name``; ``in_<type>[N][_mod]_input|raw|scale|offset``;
  units), and the chips' drivers for what each one shows (``bmp280-core.c``, ``bh1750.c``,
  ``ti-ads1015.c``, ``scd4x.c``); values printed as ``iio_format_value`` does (``%d``, or
  ``%d.%06u`` / ``%d.%09u``).
- The host: ``/sys/class/thermal/thermal_zone0`` linking to
  ``../../devices/virtual/thermal/thermal_zone0`` (``temp`` in millidegrees), the Pi firmware's
  ``get_throttled`` (``"%x\\n"``), ``/proc/loadavg``, ``/proc/meminfo``, ``/proc/uptime`` (proc(5)).

Faults are injected for real: a file removed (ENOENT), a file whose read fails with EIO
(:func:`eio`), a device node whose open fails with ENODEV (:func:`enodev`, needs CAP_MKNOD), a
path whose open fails with ENXIO (:func:`enxio`), a FIFO that answers only after a delay
(:class:`SlowFile`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from support.components import require

__all__ = ["Procfs", "SlowFile", "Sysfs", "crc8", "ds18b20_scratchpad", "eio", "enodev",
           "enxio", "w1_slave_text"]

PI4_I2C1 = "platform/soc/fe804000.i2c/i2c-1"  # where i2c_arm (GPIO 2/3) sits on a Pi 4


# --- 1-Wire: DS18B20 scratchpad --------------------------------------------------------------

def crc8(data: bytes) -> int:
    """Dallas/Maxim 1-Wire CRC-8 (x^8 + x^5 + x^4 + 1, LSB first; Maxim application note 27)."""
    crc = 0
    for byte in data:
        for bit in range(8):
            mix = (crc ^ byte >> bit) & 1
            crc >>= 1
            if mix:
                crc ^= 0x8C
    return crc


def ds18b20_scratchpad(millidegrees: int, *, resolution: int = 12) -> bytes:
    """The 9 scratchpad bytes of a DS18B20 reading ``millidegrees`` (a multiple of 62.5 at 12
    bits): temperature LSB/MSB (1/16 °C), TH, TL, configuration, 0xFF, reserved, 0x10, CRC."""
    raw = round(millidegrees * 16 / 1000) & 0xFFFF
    config = 0x1F | (resolution - 9) << 5
    data = bytes([raw & 0xFF, raw >> 8, 0x4B, 0x46, config, 0xFF, 0x0C, 0x10])
    return data + bytes([crc8(data)])


def kernel_millidegrees(scratchpad: bytes) -> int:
    """What w1_therm prints as ``t=`` for a DS18B20: s16 x 1000 / 16, truncated toward zero."""
    raw = int.from_bytes(scratchpad[:2], "little", signed=True)
    return int(raw * 1000 / 16)


def w1_slave_text(scratchpad: bytes, *, crc_ok: bool | None = None) -> str:
    """``w1_slave`` as w1_slave_show prints it (``crc_ok`` overrides the verdict)."""
    hexes = "".join(f"{b:02x} " for b in scratchpad)
    verdict = crc8(scratchpad[:8]) == scratchpad[8] if crc_ok is None else crc_ok
    return (f"{hexes}: crc={crc8(scratchpad[:8]):02x} {'YES' if verdict else 'NO'}\n"
            f"{hexes}t={kernel_millidegrees(scratchpad)}\n")


def _write(path: Path, text: str | bytes, mode: int = 0o444) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():  # a new file: read-only modes hold off no one
        path.unlink()
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)
    return path


def _link(link: Path, target: str) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink():
        link.unlink()
    link.symlink_to(target)


def _iio_value(value: float | int) -> str:
    """As ``iio_format_value`` prints: an int, or 9 decimals (IIO_VAL_FRACTIONAL)."""
    return f"{value}\n" if isinstance(value, int) else f"{value:.9f}\n"


class Sysfs:
    """A ``/sys`` under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    # --- 1-Wire (dtoverlay=w1-gpio) -----------------------------------------------------------

    def w1_master(self, n: int = 1) -> Path:
        master = self.root / "devices" / f"w1_bus_master{n}"
        if not master.is_dir():
            for name, text in {
                "w1_master_name": f"w1_bus_master{n}\n", "w1_master_attempts": "1\n",
                "w1_master_max_slave_count": "64\n", "w1_master_pullup": "1\n",
                "w1_master_search": "-1\n", "w1_master_timeout": "10\n",
                "w1_master_timeout_us": "0\n", "therm_bulk_read": "0\n",
                "uevent": "", "w1_master_slaves": "not found.\n",
                "w1_master_slave_count": "0\n",
            }.items():
                _write(master / name, text, 0o644 if name == "therm_bulk_read" else 0o444)
            _write(master / "w1_master_add", "", 0o200)
            _write(master / "w1_master_remove", "", 0o200)
            _link(master / "subsystem", "../../bus/w1")
            _link(master / "driver", "../../bus/w1/drivers/w1_master_driver")
            _link(self.root / "bus" / "w1" / "devices" / f"w1_bus_master{n}",
                  f"../../../devices/w1_bus_master{n}")
            (self.root / "bus" / "w1" / "drivers" / "w1_master_driver").mkdir(
                parents=True, exist_ok=True)
            (self.root / "bus" / "w1" / "drivers" / "w1_slave_driver").mkdir(
                parents=True, exist_ok=True)
        return master

    def w1_probe(self, address: str, millidegrees: int = 21_500, *, bus: int = 1,
                 temperature_file: bool = True) -> Path:
        """A w1_therm slave on ``w1_bus_master<bus>``: its directory under the master, the link
        in ``bus/w1/devices``, the master's slave list. ``temperature_file=False``: a kernel
        before 5.9, which has only ``w1_slave``."""
        master = self.w1_master(bus)
        probe = master / address
        probe.mkdir(exist_ok=True)
        family, serial = address.split("-")
        rom = bytes([int(family, 16), *bytes.fromhex(serial)[::-1]])
        _write(probe / "name", f"{address}\n")
        _write(probe / "id", rom + bytes([crc8(rom)]))
        _write(probe / "uevent", f"W1_FID={family.upper()}\nW1_SLAVE_ID={int(serial, 16)}\n")
        for name, text in {"resolution": "12\n", "ext_power": "1\n", "conv_time": "750\n",
                           "features": "0\n", "alarms": "70 75\n"}.items():
            _write(probe / name, text, 0o644 if name != "ext_power" else 0o444)
        _write(probe / "eeprom", "", 0o200)
        _link(probe / "subsystem", "../../../bus/w1")
        _link(probe / "driver", "../../../bus/w1/drivers/w1_slave_driver")
        _link(self.root / "bus" / "w1" / "devices" / address,
              f"../../../devices/w1_bus_master{bus}/{address}")
        self.w1_set(address, millidegrees, temperature_file=temperature_file)
        self._w1_list(master)
        return probe

    def w1_dir(self, address: str) -> Path:
        return (self.root / "bus" / "w1" / "devices" / address).resolve()

    def w1_set(self, address: str, millidegrees: int, *, temperature_file: bool = True) -> None:
        """The probe now reads ``millidegrees``."""
        probe = self.w1_dir(address)
        pad = ds18b20_scratchpad(millidegrees)
        _write(probe / "w1_slave", w1_slave_text(pad), 0o644)
        if temperature_file:
            _write(probe / "temperature", f"{kernel_millidegrees(pad)}\n")
        elif (probe / "temperature").exists():
            (probe / "temperature").unlink()

    def w1_remove(self, address: str) -> None:
        """The probe is gone: the kernel drops its directory and link after a missed search."""
        probe = self.w1_dir(address)
        (self.root / "bus" / "w1" / "devices" / address).unlink()
        shutil.rmtree(probe)
        self._w1_list(probe.parent)

    def _w1_list(self, master: Path) -> None:
        slaves = sorted(p.name for p in master.iterdir() if p.is_dir() and "-" in p.name)
        _write(master / "w1_master_slaves", "".join(f"{s}\n" for s in slaves) or "not found.\n")
        _write(master / "w1_master_slave_count", f"{len(slaves)}\n")

    # --- IIO (dtoverlay=i2c-sensor,<chip>) ------------------------------------------------------

    def iio_device(self, n: int, name: str, parent: str, files: dict[str, str]) -> Path:
        """``devices/<parent>/iio:device<n>`` with ``name`` and ``files``, linked from
        ``bus/iio/devices``."""
        directory = self.root / "devices" / parent / f"iio:device{n}"
        directory.mkdir(parents=True, exist_ok=True)
        _write(directory / "name", f"{name}\n")
        _write(directory / "dev", f"241:{n}\n")
        _write(directory / "uevent", f"MAJOR=241\nMINOR={n}\nDEVNAME=iio:device{n}\n"
                                     "DEVTYPE=iio_device\n")
        (directory / "power").mkdir(exist_ok=True)
        depth = len(Path("devices", parent, directory.name).parts)  # back up to the root
        _link(directory / "subsystem", "../" * depth + "bus/iio")
        for file, text in files.items():
            _write(directory / file, text, 0o644 if not file.endswith(("_input", "_raw")) else 0o444)
        _link(self.root / "bus" / "iio" / "devices" / f"iio:device{n}",
              f"../../../devices/{parent}/iio:device{n}")
        return directory

    def bme280(self, n: int = 0, *, address: int = 0x76, millidegrees: int = 23_450,
               pressure_kpa: float = 100.1328125, milli_rh: float = 45_123.046875,
               raw_channels: bool = True) -> Path:
        """bmp280-core.c's BME280 on i2c-1: processed ``_input`` channels (kPa for pressure),
        and since kernel 6.12 ``_raw``/``_scale`` beside them (``raw_channels``)."""
        files = {
            "in_temp_input": _iio_value(float(millidegrees)),
            "in_pressure_input": _iio_value(pressure_kpa),
            "in_humidityrelative_input": _iio_value(milli_rh),
            "in_temp_oversampling_ratio": "2\n", "in_pressure_oversampling_ratio": "16\n",
            "in_humidityrelative_oversampling_ratio": "16\n",
            "in_temp_oversampling_ratio_available": "1 2 4 8 16\n",
            "in_pressure_oversampling_ratio_available": "1 2 4 8 16\n",
            "in_humidityrelative_oversampling_ratio_available": "1 2 4 8 16\n",
        }
        if raw_channels:
            files |= {"in_temp_raw": f"{millidegrees // 10}\n", "in_temp_scale": "10.000000000\n",
                      "in_pressure_raw": f"{round(pressure_kpa * 256000)}\n",
                      "in_pressure_scale": "0.000003906\n",
                      "in_humidityrelative_raw": f"{round(milli_rh * 1024 / 1000)}\n",
                      "in_humidityrelative_scale": "0.976562500\n"}
        return self.iio_device(n, "bme280", f"{PI4_I2C1}/1-{address:04x}", files)

    def bh1750(self, n: int = 1, *, raw: int = 1200) -> Path:
        """bh1750.c: ``in_illuminance_raw`` and a scale to lux (1/1.2 at the default time)."""
        files = {"in_illuminance_raw": f"{raw}\n", "in_illuminance_scale": "0.833333\n",
                 "in_illuminance_integration_time": "0.120000\n",
                 "integration_time_available": "0.081000 0.088000 0.120000 0.254000\n"}
        return self.iio_device(n, "bh1750", f"{PI4_I2C1}/1-0023", files)

    def ads1015(self, n: int = 2, *, raw: Sequence[int] = (1234, 0, -5, 2047)) -> Path:
        """ti-ads1015.c: single-ended ``in_voltageN_raw`` and differential
        ``in_voltageN-voltageM_raw``, each with its own scale (mV per count, 9 decimals)."""
        files: dict[str, str] = {}
        pairs = ["0-voltage1", "0-voltage3", "1-voltage3", "2-voltage3"]
        for i, value in enumerate(raw):
            files[f"in_voltage{i}_raw"] = f"{value}\n"
            files[f"in_voltage{i}_scale"] = "3.000000000\n"
            files[f"in_voltage{i}_sampling_frequency"] = "1600\n"
        for pair in pairs:
            files[f"in_voltage{pair}_raw"] = "100\n"
            files[f"in_voltage{pair}_scale"] = "3.000000000\n"
        files["sampling_frequency_available"] = "128 250 490 920 1600 2400 3300\n"
        return self.iio_device(n, "ads1015", f"{PI4_I2C1}/1-0048", files)

    def scd4x(self, n: int = 3, *, co2: int = 812, temp_raw: int = 26_000,
              rh_raw: int = 30_000) -> Path:
        """scd4x.c: raw channels with scales (CO2: ppm x 0.0001 = percent; temperature
        (raw - 16852.114286) x 175000/65536 milli °C; humidity raw x 100000/65536 milli %)."""
        files = {"in_concentration_co2_raw": f"{co2}\n",
                 "in_concentration_co2_scale": "0.000100\n",
                 "in_temp_raw": f"{temp_raw}\n", "in_temp_scale": "2.670288085\n",
                 "in_temp_offset": "-16852.114286\n", "in_temp_calibbias": "1300\n",
                 "in_humidityrelative_raw": f"{rh_raw}\n",
                 "in_humidityrelative_scale": "1.525878906\n",
                 "calibration_auto_enable": "1\n",
                 "calibration_forced_value_available": "[400 1 2000]\n"}
        directory = self.iio_device(n, "scd41", f"{PI4_I2C1}/1-0062", files)
        _write(directory / "calibration_forced_value", "", 0o200)  # write-only
        return directory

    def hwmon_device(self, n: int, name: str, parent: str, files: dict[str, str]) -> Path:
        """``devices/<parent>/hwmon/hwmon<n>`` with ``name`` and ``files``, linked from
        ``class/hwmon`` (Documentation/hwmon/sysfs-interface.rst)."""
        directory = self.root / "devices" / parent / "hwmon" / f"hwmon{n}"
        _write(directory / "name", f"{name}\n")
        _write(directory / "uevent", "")
        depth = len(Path("devices", parent, "hwmon", directory.name).parts)
        _link(directory / "subsystem", "../" * depth + "class/hwmon")
        _link(directory / "device", "../..")
        for file, text in files.items():
            _write(directory / file, text, 0o444 if file.endswith(("_input", "_alarm")) else 0o644)
        _link(self.root / "class" / "hwmon" / f"hwmon{n}", f"../../devices/{parent}/hwmon/hwmon{n}")
        return directory

    def sht3x(self, n: int = 2, *, address: int = 0x44, millidegrees: int = 22_150,
              milli_rh: int = 51_230) -> Path:
        """sht3x.c (hwmon): temp1_input milli °C, humidity1_input milli %, limits and alarms."""
        files = {"temp1_input": f"{millidegrees}\n", "humidity1_input": f"{milli_rh}\n",
                 "temp1_max": "60000\n", "temp1_max_hyst": "58000\n", "temp1_min": "-10000\n",
                 "temp1_min_hyst": "-8000\n", "temp1_alarm": "0\n", "humidity1_max": "80000\n",
                 "humidity1_max_hyst": "79500\n", "humidity1_min": "20000\n",
                 "humidity1_min_hyst": "20500\n", "humidity1_alarm": "0\n",
                 "heater_enable": "0\n", "update_interval": "0\n", "repeatability": "1\n"}
        return self.hwmon_device(n, "sht3x", f"{PI4_I2C1}/1-{address:04x}", files)

    def pi_hwmon(self) -> None:
        """What every Pi has: the SoC's thermal zone and the firmware's voltage alarm as hwmon
        devices (not sensors wired to it)."""
        self.hwmon_device(0, "cpu_thermal", "virtual/thermal/thermal_zone0",
                          {"temp1_input": "48686\n"})
        self.hwmon_device(1, "rpi_volt", "platform/soc/soc:firmware/raspberrypi-hwmon",
                          {"in0_lcrit_alarm": "0\n"})

    def iio_dir(self, n: int) -> Path:
        return (self.root / "bus" / "iio" / "devices" / f"iio:device{n}").resolve()

    def iio_remove(self, n: int) -> None:
        """The device is unbound: its directory and link go."""
        directory = self.iio_dir(n)
        (self.root / "bus" / "iio" / "devices" / f"iio:device{n}").unlink()
        shutil.rmtree(directory)

    # --- the host -------------------------------------------------------------------------------

    def thermal_zone(self, millidegrees: int = 48_686, zone: int = 0) -> Path:
        directory = self.root / "devices" / "virtual" / "thermal" / f"thermal_zone{zone}"
        _write(directory / "type", "cpu-thermal\n")
        _write(directory / "temp", f"{millidegrees}\n")
        _write(directory / "mode", "enabled\n", 0o644)
        _link(self.root / "class" / "thermal" / f"thermal_zone{zone}",
              f"../../devices/virtual/thermal/thermal_zone{zone}")
        return directory / "temp"

    def throttled(self, bits: int = 0) -> Path:
        """The Pi firmware's flags, as raspberrypi.c prints them (``%x``)."""
        return _write(self.root / "devices" / "platform" / "soc" / "soc:firmware" /
                      "get_throttled", f"{bits:x}\n")


class Procfs:
    """A ``/proc`` under ``root`` with what the ``system`` driver reads (proc(5) formats)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def loadavg(self, one: float = 0.52, five: float = 0.58, fifteen: float = 0.59) -> Path:
        return _write(self.root / "loadavg", f"{one:.2f} {five:.2f} {fifteen:.2f} 1/389 12345\n")

    def meminfo(self, total_kb: int = 3_885_124, available_kb: int = 2_949_620) -> Path:
        lines = [("MemTotal", total_kb), ("MemFree", available_kb // 2),
                 ("MemAvailable", available_kb), ("Buffers", 81_232), ("Cached", 1_212_040),
                 ("SwapCached", 0), ("Active", 612_340)]
        return _write(self.root / "meminfo", "".join(f"{k + ':':<16}{v:>8} kB\n"
                                                     for k, v in lines))

    def write(self, name: str, text: str) -> Path:
        return _write(self.root / name, text)

    def uptime(self, seconds: float = 350_735.47) -> Path:
        return _write(self.root / "uptime", f"{seconds:.2f} {seconds * 3.7:.2f}\n")


# --- faults ---------------------------------------------------------------------------------------

def eio(path: Path) -> None:
    """Make every read of ``path`` fail with EIO, as a sysfs read does when the chip does not
    answer: it becomes a link to ``/proc/self/mem``, whose read at offset 0 (never mapped) is
    answered by the kernel with EIO."""
    if path.exists() or path.is_symlink():
        path.unlink()
    path.symlink_to("/proc/self/mem")
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        if exc.errno != errno.EIO:
            raise
    else:
        raise AssertionError("/proc/self/mem read without EIO")


def enxio(path: Path) -> socket.socket:
    """Make opening ``path`` fail with ENXIO (no such device or address), as opening a device
    whose hardware is gone does: a bound Unix socket, which open() refuses with ENXIO. Keep
    the returned socket open while the fault lasts."""
    if path.exists() or path.is_symlink():
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    short = Path(tempfile.mkdtemp(prefix="enxio-"))  # where pytest's tmp_path is: one filesystem
    sock.bind(str(short / "s"))  # a socket path may be 108 bytes at most: bind, then move it
    os.replace(short / "s", path)
    short.rmdir()
    return sock


def _free_misc_minor() -> int:
    used = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/misc").read_text().splitlines():
            used.add(int(line.split()[0]))
    return next(m for m in range(254, 128, -1) if m not in used)


def enodev(path: Path) -> None:
    """Make opening ``path`` fail with ENODEV, as a w1 slave's file does when the kernel has let
    the slave go: a character device node of the misc major (10) with a minor no driver holds
    (``misc_open`` answers ENODEV). Needs CAP_MKNOD (CI runs as root)."""
    if path.exists() or path.is_symlink():
        path.unlink()
    try:
        os.mknod(path, stat.S_IFCHR | 0o444, os.makedev(10, _free_misc_minor()))
        os.close(os.open(path, os.O_RDONLY))
    except PermissionError:
        require("mknod of a character device (root)", False, "run as root: CI does")
    except OSError as exc:
        require("a misc device node that fails with ENODEV", exc.errno == errno.ENODEV,
                f"open gave {errno.errorcode.get(exc.errno or 0)}")
        return
    raise AssertionError("the misc device node opened")


class SlowFile:
    """``path`` as a FIFO that answers every reader only after ``delay`` seconds, like a sysfs
    read that blocks in the kernel (a 1-Wire conversion). Each reader gets the next of ``texts``
    (the last one repeats). A thread serves it until the block ends.

    ``opened`` and ``answered`` hold the monotonic times a reader opened it and got its answer.
    """

    def __init__(self, path: Path, texts: str | Iterable[str], delay: float) -> None:
        self.path = path
        self.texts = [texts] if isinstance(texts, str) else list(texts)
        self.delay = delay
        self.opened: list[float] = []
        self.answered: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"slow-file[{path.name}]",
                                        daemon=True)

    def __enter__(self) -> SlowFile:
        self._fresh()
        self._thread.start()
        return self

    def _fresh(self) -> None:
        """A new FIFO at ``path``: a reader still draining the old one keeps it, and sees its
        end when the server closes it (a reopened writer on one FIFO would feed the old reader
        a second answer instead)."""
        spare = self.path.with_name(self.path.name + ".next")
        os.mkfifo(spare, 0o444)
        os.replace(spare, self.path)

    def _serve(self) -> None:
        while not self._stop.is_set():
            fd = os.open(self.path, os.O_WRONLY)  # until a reader opens
            try:
                if self._stop.is_set():
                    return
                self.opened.append(time.monotonic())
                if self._stop.wait(self.delay):
                    return
                text = self.texts[min(len(self.answered), len(self.texts) - 1)]
                with contextlib.suppress(BrokenPipeError):
                    os.write(fd, text.encode())
                self.answered.append(time.monotonic())
                self._fresh()  # before the close: the reader's next open finds the new one
            finally:
                os.close(fd)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):  # release the server's open, if it waits for a reader
            os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        self._thread.join(5)
        for _ in range(8):  # release readers still waiting for a writer: they read EOF
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                break
        self.path.unlink()

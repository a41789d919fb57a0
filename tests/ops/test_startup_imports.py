"""No import on the event loop: the daemon imports what its drivers need before the loop starts.

Issue #19: importing dbus-fast on the loop blocked it for 0.145 s on x86 (longer on a Pi), and
the loop monitor logged it as a block at every start with BLE devices. Whether a block is long
enough to be reported depends on the machine; whether an import runs on the loop does not: the
daemon runs here (the real ``sensor-gateway run``) in a fresh interpreter with a meta path
finder that notes every module first imported while an event loop runs in that thread, with
every kind of device running for real (BLE adverts and GATT against the mocked BlueZ, Modbus
and a line protocol on absent ports, a simulated device).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import struct
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from support.blemock import BlueZMock
from support.daemon import REPO, write_config
from support.wait import until

from drivers.ble.decoders import BTHOME_UUID, uuid16

RECORDER = """
import asyncio, json, sys


def on_a_loop():
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


on_loop = []


class Recorder:  # finds nothing itself: it notes what is imported, and where
    def find_spec(self, name, path=None, target=None):
        if name not in sys.modules and on_a_loop():
            on_loop.append(name)
        return None


sys.meta_path.insert(0, Recorder())
from gateway.cli.main import main

code = main(["run", "--config", sys.argv[1]])
print(json.dumps({"code": code, "on_loop": on_loop}))
"""
GATT, ADVERTS = "C4:7C:8D:6A:11:22", "A4:C1:38:00:00:01"


def config() -> str:
    return f"""
[gateway]
id = "imports"
restart_delay_max = 1.0
[mqtt]
host = "127.0.0.1"
port = 1
[[devices]]
id = "env"
driver = "ble"
mode = "gatt"
address = "{GATT}"
connect_timeout = 5
[[devices]]
id = "thermo"
driver = "ble"
address = "{ADVERTS}"
bindkey = "231d39c1d7cc1ab1aee224cd096db932"
[[devices]]
id = "meter"
driver = "serial"
port = "/dev/ttyUSB-absent-9"
protocol = "modbus"
unit = 1
registers = [{{ name = "voltage", address = 0 }}]
[[devices]]
id = "co2"
driver = "serial"
port = "/dev/ttyUSB-absent-8"
protocol = "json"
[[devices]]
id = "sim"
driver = "simulated"
interval = 0.5
sensors = ["temperature"]
"""


@contextlib.asynccontextmanager
async def advertising(mock: BlueZMock) -> AsyncIterator[None]:
    """The GATT sensor advertises (so the shared scanner finds it) and can be read."""
    mock.add_adapter("hci0")
    mock.add_device("hci0", GATT, "EnvSensor")
    mock.add_characteristic("hci0", GATT, uuid16(0x181A), uuid16(0x2A6E), struct.pack("<h", 2150))

    async def loop() -> None:
        while True:
            with contextlib.suppress(Exception):
                mock.advertise("hci0", GATT, {BTHOME_UUID: b"\x40"}, rssi=-60)
            await asyncio.sleep(0.1)

    task = asyncio.create_task(loop(), name="test-advertiser")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class Recorded:
    """The daemon under the recorder: its log in ``log``, its report once it has stopped."""

    def __init__(self, config: Path, workdir: Path) -> None:
        self.log, self.out = workdir / "daemon.log", workdir / "out.json"
        with self.log.open("wb") as err, self.out.open("wb") as result:
            self.proc = subprocess.Popen([sys.executable, "-c", RECORDER, str(config)], cwd=REPO,
                                         stdout=result, stderr=err)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    async def until_logged(self, *needles: str) -> None:
        try:
            await until(lambda: all(n in self.text() for n in needles), timeout=30, interval=0.1)
        except TimeoutError:
            raise AssertionError(f"{needles} not logged:\n{self.text()[-3000:]}") from None

    def report(self) -> list[str]:
        """The modules imported on the loop (the daemon exited 0)."""
        report = json.loads(self.out.read_text().splitlines()[-1])
        assert report["code"] == 0, self.text()
        return list(report["on_loop"])


@contextlib.asynccontextmanager
async def recorded(config: Path, workdir: Path) -> AsyncIterator[Recorded]:
    """Start the daemon under the recorder; SIGTERM it at the end of the block."""
    run = Recorded(config, workdir)
    try:
        yield run
        run.proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(run.proc.wait, 30)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()


async def test_no_module_is_imported_on_the_event_loop(
    tmp_path: Path, bluez_mock: BlueZMock
) -> None:
    path = write_config(tmp_path / "c.toml", config())
    async with advertising(bluez_mock), recorded(path, tmp_path) as run:
        # every kind of device past the point where its driver imports its stack
        await run.until_logged("[env] online", "[meter] offline: DeviceUnavailable: cannot "
                               "open /dev/ttyUSB-absent-9", "[co2] offline", "[sim] online")
    assert run.report() == []
    assert "event loop blocked" not in run.text()


async def test_a_device_added_by_a_reload_imports_its_stack_off_the_loop(tmp_path: Path) -> None:
    sim = config().split("[[devices]]")
    head, simulated = sim[0], "[[devices]]" + sim[-1]
    meter = "[[devices]]" + next(part for part in sim if 'id = "meter"' in part)
    path = write_config(tmp_path / "c.toml", head + simulated)
    async with recorded(path, tmp_path) as run:
        await run.until_logged("[sim] online")
        write_config(path, head + simulated + meter)  # the first serial device: pymodbus
        run.proc.send_signal(signal.SIGHUP)
        await run.until_logged("[meter] offline")
    on_loop = run.report()
    assert not [name for name in on_loop if name.split(".")[0] in
                ("pymodbus", "serial", "serial_asyncio_fast", "drivers")], on_loop

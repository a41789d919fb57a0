"""``sensor-gateway scan ble`` as a user runs it, against bleak's BlueZ backend and the mock."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

from support.blemock import BlueZMock
from support.daemon import REPO, run_cli

from drivers.ble.decoders import (
    BTHOME_UUID,
    GOVEE_COMPANY_ID,
    QINGPING_UUID,
    RUUVI_COMPANY_ID,
    XIAOMI_UUID,
)

BTHOME = bytes.fromhex("40 01 61 02 ca 09 03 bf 13")
RUUVI = bytes.fromhex("05 12 fc 53 94 c3 7c 00 04 ff fc 04 0c ac 36 42 00 cd cb b8 33 4c 88 4f")
SEALED = bytes.fromhex("41 a4 72 66 c9 5f 73 00 11 22 33 78 23 72 14")
# issue 13's trio (published vectors, see tests/ble_decoders): an encrypted LYWSD03MMC
# (xiaomi-ble), a Govee H5075 (govee-ble), a Qingping CGG1 (ble_monitor)
LYWSD03MMC = bytes.fromhex("58 58 5b 05 50 f4 83 02 38 c1 a4 95 ef 58 76 3c 26 00 00 97 e2 ab b5")
H5075 = bytes.fromhex("00 03 4d b2 64 00")
CGG1 = bytes.fromhex("08 07 b2 44 10 34 2d 58 01 04 ca 00 45 02 02 01 38")
TRIO = {
    "A4:C1:38:02:83:F4": ({XIAOMI_UUID: LYWSD03MMC}, {}),
    "A4:C1:38:DD:DB:F8": ({}, {GOVEE_COMPANY_ID: H5075}),
    "58:2D:34:10:44:B2": ({QINGPING_UUID: CGG1}, {}),
}


async def scan_while_advertising(mock: BlueZMock, seconds: float) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "scan", "ble", "--seconds", str(seconds),
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    communicate = asyncio.create_task(proc.communicate(), name="test-scan")
    rssi = -50
    async with asyncio.timeout(seconds + 20):
        while not communicate.done():  # devices advertise until the scan is over
            rssi = -50 if rssi != -50 else -51
            with contextlib.suppress(Exception):
                mock.advertise("hci0", "AA:BB:CC:DD:EE:01", {BTHOME_UUID: BTHOME}, rssi=rssi)
                mock.advertise("hci0", "C6:3A:A0:00:00:02",
                               manufacturer_data={RUUVI_COMPANY_ID: RUUVI}, rssi=rssi - 20)
                mock.advertise("hci0", "54:48:E6:8F:80:A5", {BTHOME_UUID: SEALED}, rssi=-70)
                for address, (service, manufacturer) in TRIO.items():
                    mock.advertise("hci0", address, service, manufacturer, rssi=-80)
            await asyncio.sleep(0.1)
        out, err = await communicate
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_scan_lists_devices_decoders_and_values(bluez_mock: BlueZMock) -> None:
    bluez_mock.add_adapter("hci0")
    bluez_mock.add_device("hci0", "AA:BB:CC:DD:EE:01", "ATC_\x1b[2Jevil")
    bluez_mock.add_device("hci0", "C6:3A:A0:00:00:02", "Ruuvi 8F4C")
    bluez_mock.add_device("hci0", "54:48:E6:8F:80:A5", "Shelly BLU")
    for address in TRIO:
        bluez_mock.add_device("hci0", address, "GVH5075_DBF8" if address.endswith("F8") else None)
    code, out, err = await scan_while_advertising(bluez_mock, 3)
    assert code == 0, err
    lines = {line.split()[0]: line for line in out.splitlines() if ":" in line.split()[0]}
    bthome = lines["AA:BB:CC:DD:EE:01"]
    assert " bthome " in bthome
    assert " -50 " in bthome or " -51 " in bthome
    assert "battery=97%" in bthome and "temperature=25.06°C" in bthome
    assert "humidity=50.55%" in bthome
    assert "\x1b" not in out  # a device-supplied name cannot drive the terminal
    assert "ATC_?[2Jevil" in bthome
    ruuvi = lines["C6:3A:A0:00:00:02"]
    assert "Ruuvi 8F4C" in ruuvi and "ruuvi" in ruuvi
    assert "temperature=24.3°C" in ruuvi and "pressure=1000.44hPa" in ruuvi
    assert "encrypted: set bindkey" in lines["54:48:E6:8F:80:A5"]
    # Issue 13: manufacturer and model of every known device; an encrypted advert without a
    # key says so (its model is readable without the key).
    assert "Ruuvi Innovations RuuviTag RAWv2" in ruuvi and "BTHome v2" in bthome
    xiaomi = lines["A4:C1:38:02:83:F4"]
    assert " xiaomi " in xiaomi and "Xiaomi LYWSD03MMC" in xiaomi
    assert "encrypted: set bindkey" in xiaomi
    govee = lines["A4:C1:38:DD:DB:F8"]
    assert "Govee H5075" in govee and "temperature=21.6°C" in govee and "battery=100%" in govee
    qingping = lines["58:2D:34:10:44:B2"]
    assert "Qingping CGG1" in qingping and "humidity=58.1%" in qingping
    # Sorted by signal strength, strongest first.
    order = [a for a in lines if a in ("AA:BB:CC:DD:EE:01", "C6:3A:A0:00:00:02")]
    assert order == ["AA:BB:CC:DD:EE:01", "C6:3A:A0:00:00:02"]


def test_scan_without_dbus_fails_clearly(tmp_path: Path) -> None:
    result = run_cli("scan", "ble", "--seconds", "5",
                     env={"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/none"})
    assert result.returncode == 1
    assert "no D-Bus system bus" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("no D-Bus system bus") == 1


def test_scan_simulated_adapter_lists_the_simulated_devices() -> None:
    result = run_cli("scan", "ble", "--seconds", "2.5", "--adapter", "simulated")
    assert result.returncode == 0, result.stderr
    for fmt, decoder, device in (
            ("bthome", "bthome", "BTHome v2"), ("ruuvi", "ruuvi", "Ruuvi"),
            ("atc1441", "atc", "ATC1441"), ("pvvx", "atc", "pvvx"),
            ("xiaomi", "xiaomi", "Xiaomi LYWSD03MMC"), ("qingping", "qingping", "Qingping CGG1"),
            ("govee", "govee", "Govee H5072/H5075")):
        line = next(x for x in result.stdout.splitlines() if f"sim-{fmt} " in x)
        assert f" {decoder} " in line and device in line and "temperature=" in line

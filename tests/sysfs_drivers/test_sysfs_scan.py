"""``sensor-gateway scan onewire|iio|system`` on a kernel-shaped tree: what is there with current
values, and device blocks that, pasted into a config, pass ``check`` and publish those values
(the issue's user: add the overlay lines, scan, paste, see the values); ``init --from-scan``."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from support.broker import Mosquitto
from support.daemon import base_config, run_cli, write_config
from support.inproc import running, settings_from
from support.mqtt import collect
from support.sysfs import Procfs, Sysfs

from drivers.iio.scan import starter_blocks as iio_blocks
from drivers.onewire.scan import starter_blocks as onewire_blocks
from drivers.system.scan import starter_blocks as system_blocks
from gateway.cli.init import starter_config

MARK = "# paste into your config:"


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Sysfs, Procfs]:
    sysfs, procfs = Sysfs(tmp_path / "sys"), Procfs(tmp_path / "proc")
    sysfs.w1_probe("28-0316a2790fff", 21_500)
    sysfs.w1_probe("28-0416a2790aaa", -3_000, bus=2, temperature_file=False)
    sysfs.bme280(1, address=0x77, millidegrees=19_000)
    sysfs.bme280(0, address=0x76)
    sysfs.bh1750(2)
    sysfs.sht3x(2)
    sysfs.pi_hwmon()  # the SoC's own hwmon devices: not proposed
    sysfs.thermal_zone(47_000)
    sysfs.throttled(0)
    procfs.loadavg(0.25)
    procfs.meminfo()
    procfs.uptime()
    return sysfs, procfs


def scan(*args: str) -> str:
    result = run_cli("scan", *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def blocks(output: str) -> str:
    assert MARK in output, output
    return output.split(MARK, 1)[1]


async def test_scan_paste_and_see_the_values(tmp_path: Path, trees: tuple[Sysfs, Procfs],
                                             mosquitto: Mosquitto) -> None:
    sysfs, procfs = trees
    onewire = scan("onewire", "--root", str(sysfs.root))
    assert "w1_bus_master1  28-0316a2790fff  DS18B20  21.5 °C" in onewire
    assert "w1_bus_master2  28-0416a2790aaa  DS18B20  -3 °C" in onewire
    iio = scan("iio", "--root", str(sysfs.root))
    rows = {line.split()[0]: line for line in iio.split(MARK)[0].splitlines()[1:] if line}
    assert rows["iio:device0"].split()[:4] == ["iio:device0", "bme280", "0", "1-0076"]
    assert rows["iio:device1"].split()[:4] == ["iio:device1", "bme280", "1", "1-0077"]
    assert "temperature 19 °C" in rows["iio:device1"] and "pressure 1001.33 hPa" in iio
    assert "illuminance 1000 lx" in iio
    assert rows["hwmon2"].split()[:4] == ["hwmon2", "sht3x", "-", "1-0044"]
    assert "humidity 51.23 %, temperature 22.15 °C" in rows["hwmon2"]
    assert "cpu_thermal" not in iio and "rpi_volt" not in iio
    system = scan("system", "--root", str(sysfs.root), "--proc", str(procfs.root))
    values = {line.split()[0]: line.split(None, 1)[1] for line in system.split(MARK)[0]
              .splitlines()[2:] if line.strip()}
    assert values["cpu_temperature"] == "47 °C" and values["under_voltage"] == "off"

    pasted = (blocks(onewire) + blocks(iio) + blocks(system)).replace(
        "interval = 30", "interval = 0.2").replace("interval = 10", "interval = 0.2").replace(
        "interval = 60", "interval = 0.2")
    config = write_config(tmp_path / "config.toml", base_config(mosquitto.port, "scanned")
                          + pasted)
    check = run_cli("check", "--config", str(config))
    assert check.returncode == 0, check.stderr
    devices = {d["id"]: d for d in tomllib.loads(config.read_text())["devices"]}
    assert {d: devices[d].get("index") for d in ("bme280", "bme280-2")} == {
        "bme280": 0, "bme280-2": 1}
    root = "sensor-gateway/scanned"
    expected = {"onewire/28-0316a2790fff": 21.5, "onewire/28-0416a2790aaa": -3.0,
                "bme280/temperature": 23.45, "bme280-2/temperature": 19.0,
                "bh1750/illuminance": 999.9996, "sht3x/humidity": 51.23,
                "host/cpu_temperature": 47.0,
                "host/load_1m": 0.25, "host/under_voltage": 0.0}
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, config.read_text())) as gateway:
            await sub.wait_for(lambda: all(sub.on(f"{root}/{t}") for t in expected))
            assert not any(d.errors for d in gateway.devices.values())
    for topic, value in expected.items():
        assert sub.on(f"{root}/{topic}")[-1].json["value"] == value, topic


def test_json_output(trees: tuple[Sysfs, Procfs]) -> None:
    sysfs, procfs = trees
    probes = json.loads(scan("onewire", "--root", str(sysfs.root), "--json"))
    assert probes[0] == {"address": "28-0316a2790fff", "chip": "DS18B20",
                         "bus": "w1_bus_master1", "value": 21.5, "problem": None}
    devices = json.loads(scan("iio", "--root", str(sysfs.root), "--json"))
    assert [(d["name"], d["index"], d["where"]) for d in devices] == [
        ("bh1750", None, "1-0023"), ("bme280", 0, "1-0076"), ("bme280", 1, "1-0077"),
        ("sht3x", None, "1-0044")]
    host = json.loads(scan("system", "--root", str(sysfs.root), "--proc", str(procfs.root),
                           "--json"))
    assert host["values"]["cpu_temperature"] == 47.0 and host["problems"] == {}


def test_bad_probes_are_shown_with_the_reason(trees: tuple[Sysfs, Procfs]) -> None:
    sysfs, _ = trees
    (sysfs.w1_dir("28-0316a2790fff") / "temperature").write_text("")
    output = scan("onewire", "--root", str(sysfs.root))
    assert "28-0316a2790fff  DS18B20  no value: empty read" in output


def test_nothing_there_says_what_to_check(tmp_path: Path) -> None:
    empty = tmp_path / "sys"
    empty.mkdir()
    assert "dtoverlay=w1-gpio" in scan("onewire", "--root", str(empty))
    assert "dtoverlay=i2c-sensor" in scan("iio", "--root", str(empty))


def test_starter_blocks_of_the_three_kinds_pass_check(tmp_path: Path,
                                                      trees: tuple[Sysfs, Procfs]) -> None:
    sysfs, procfs = trees
    taken: set[str] = set()
    found = (onewire_blocks(taken, str(sysfs.root)) + iio_blocks(taken, str(sysfs.root))
             + system_blocks(taken, str(sysfs.root), str(procfs.root)))
    path = write_config(tmp_path / "c.toml", starter_config(tmp_path / "c.toml", found))
    check = run_cli("check", "--config", str(path))
    assert check.returncode == 0, check.stderr
    ids = [d["id"] for d in tomllib.loads(path.read_text())["devices"]]
    assert ids == ["onewire", "bh1750", "bme280", "bme280-2", "sht3x", "host"]


def test_init_from_scan_includes_this_host(tmp_path: Path) -> None:
    """On this (Linux) machine: /proc is real, so the host's block is proposed."""
    path = tmp_path / "config.toml"
    result = run_cli("init", "--from-scan", "--config", str(path))
    assert result.returncode == 0, result.stderr
    devices = tomllib.loads(path.read_text())["devices"]
    assert any(d["driver"] == "system" for d in devices)
    check = run_cli("check", "--config", str(path))
    assert check.returncode == 0, check.stderr

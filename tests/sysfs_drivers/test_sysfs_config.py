"""onewire / iio / system options: unknown keys and wrong values are errors naming the key
(``check`` exits 2 with the key, no traceback); defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.daemon import python_output, run_cli
from support.inproc import config_problems as problems
from support.inproc import settings_from

from drivers.iio import IioConfig
from drivers.onewire import OneWireConfig
from drivers.system import SystemConfig


def device(driver: str, extra: str) -> str:
    return f'[[devices]]\nid = "d"\ndriver = "{driver}"\n{extra}\n'


@pytest.mark.parametrize(
    ("driver", "extra", "key", "message"),
    [
        ("onewire", 'root = "sys"', "devices[0].root", "absolute path"),
        ("onewire", "interval = 0", "devices[0].interval", "must be > 0"),
        ("onewire", "read_timeout = -1", "devices[0].read_timeout", "must be > 0"),
        ("onewire", 'sensors = { "28-xyz" = "boiler" }', "devices[0].sensors",
         "not a 1-Wire thermometer address"),
        ("onewire", 'sensors = { "29-0316a2790fff" = "boiler" }', "devices[0].sensors",
         "family one of 10, 22, 28, 3b, 42"),
        ("onewire", "sensors = {}", "devices[0].sensors", "must not be empty"),
        ("onewire", 'sensors = { "28-0316a2790fff" = "" }', "devices[0].sensors",
         "must not be empty"),
        ("onewire", 'sensors = { "28-0316a2790fff" = "a", "28-0316a2790ffe" = "a" }',
         "devices[0].sensors", "two probes named 'a'"),
        ("onewire", 'sensors = ["28-0316a2790fff"]', "devices[0].sensors", "valid dictionary"),
        ("onewire", 'bus = "w1_bus_master1"', "devices[0].bus", "unknown key"),
        ("iio", "", "devices[0].name", "required key is missing"),
        ("iio", 'name = ""', "devices[0].name", "must not be empty"),
        ("iio", 'name = "iio:device0/x"', "devices[0].name", "IIO name"),
        ("iio", 'name = "bme280"\nindex = -1', "devices[0].index", "must be >= 0"),
        ("iio", 'name = "bme280"\nchannels = []', "devices[0].channels", "must not be empty"),
        ("iio", 'name = "bme280"\nchannels = ["temperature", "temperature"]',
         "devices[0].channels", "listed twice"),
        ("iio", 'name = "bme280"\nchanels = ["temperature"]', "devices[0].chanels", "unknown key"),
        ("system", 'proc = "proc"', "devices[0].proc", "absolute path"),
        ("system", 'disk_path = "data"', "devices[0].disk_path", "absolute path"),
        ("system", 'sensors = ["cpu_temp"]', "devices[0].sensors", "unknown sensor 'cpu_temp'"),
        ("system", 'sensors = ["uptime", "uptime"]', "devices[0].sensors", "listed twice"),
        ("system", "interval = 0", "devices[0].interval", "must be > 0"),
        ("system", "disks = []", "devices[0].disks", "unknown key"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, driver: str, extra: str, key: str,
                             message: str) -> None:
    found = problems(tmp_path, device(driver, extra))
    assert any(k == key and message in m for k, m in found), found


def test_defaults(tmp_path: Path) -> None:
    text = (device("onewire", "") + device("iio", 'name = "bme280"').replace('"d"', '"e"')
            + device("system", "").replace('"d"', '"f"'))
    onewire, iio, system = settings_from(tmp_path, text).devices
    assert isinstance(onewire, OneWireConfig)
    assert (onewire.root, onewire.interval, onewire.sensors) == ("/sys", 30.0, None)
    assert isinstance(iio, IioConfig)
    assert (iio.root, iio.index, iio.channels, iio.interval) == ("/sys", None, None, 10.0)
    assert isinstance(system, SystemConfig)
    assert (system.root, system.proc, system.disk_path, system.interval) == (
        "/sys", "/proc", "/", 60.0)


def test_addresses_are_normalised(tmp_path: Path) -> None:
    (onewire,) = settings_from(tmp_path, device(
        "onewire", 'sensors = { "28-0316A2790FFF" = "boiler" }')).devices
    assert isinstance(onewire, OneWireConfig)
    assert onewire.sensors == {"28-0316a2790fff": "boiler"}
    assert onewire.sensor_names() == ["boiler"]


def test_check_names_the_key_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(device("iio", 'name = "bme280"\nindex = "first"'))
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "devices[0].index" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_kinds_are_light_until_a_device_runs(tmp_path: Path) -> None:
    """Loading a config with the three kinds imports their config models only: no driver module,
    no other kind's stack, no thread started."""
    path = tmp_path / "c.toml"
    path.write_text(device("onewire", "") + device("iio", 'name = "bme280"').replace('"d"', '"e"')
                    + device("system", "").replace('"d"', '"f"'))
    code = (
        "import sys, threading\n"
        "from gateway.config import load_config\n"
        "from gateway.daemon import Gateway\n"
        f"Gateway(load_config(__import__('pathlib').Path({str(path)!r})))\n"
        "loaded = [m for m in ('drivers.onewire.driver', 'drivers.iio.driver',\n"
        "          'drivers.system.driver', 'bleak', 'pymodbus', 'serial_asyncio_fast')\n"
        "          if m in sys.modules]\n"
        "print(loaded, threading.active_count())\n"
    )
    assert python_output(code).strip() == "[] 1"


def test_the_schema_knows_the_three_kinds() -> None:
    """`sensor-gateway schema` (editor completion): the kinds' options, and their mistakes."""
    from test_cli_tools import validator

    check = validator()
    good = {"devices": [
        {"id": "a", "driver": "onewire", "sensors": {"28-0316a2790fff": "flow"}, "interval": 30},
        {"id": "b", "driver": "iio", "name": "bme280", "index": 1, "channels": ["temperature"]},
        {"id": "c", "driver": "system", "proc": "/host/proc", "sensors": ["uptime"]},
    ]}
    assert not [e.message for e in check.iter_errors(good)]
    for bad in ({"devices": [{"id": "a", "driver": "onewire", "bus": 1}]},
                {"devices": [{"id": "b", "driver": "iio"}]},
                {"devices": [{"id": "b", "driver": "iio", "name": "x", "index": -1}]},
                {"devices": [{"id": "c", "driver": "system", "interval": 0}]}):
        assert list(check.iter_errors(bad)), bad

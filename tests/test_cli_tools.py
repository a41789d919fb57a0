"""The operator's commands: monitor, scan serial, schema, init."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
from serial.tools.list_ports_common import ListPortInfo
from support.broker import Mosquitto
from support.daemon import REPO, base_config, run_cli, simulated, write_config
from support.inproc import running, settings_from

from drivers.serial.scan import describe, format_ports, starter_blocks
from gateway.cli.init import starter_config
from gateway.cli.monitor import MonitorState
from gateway.cli.schema import json_schema

# --- schema ------------------------------------------------------------------------------------


def validator() -> jsonschema.Draft202012Validator:
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_accepts_the_example_config() -> None:
    example = tomllib.loads((REPO / "config.example.toml").read_text())
    errors = list(validator().iter_errors(example))
    assert not errors, [e.message for e in errors]


def test_schema_knows_the_driver_union_and_rejects_mistakes() -> None:
    check = validator()
    good = {"devices": [
        {"id": "a", "driver": "simulated", "sensors": ["co2", {"name": "x", "min": 0, "max": 1}]},
        {"id": "b", "driver": "serial", "port": "/dev/ttyUSB0", "protocol": "pms5003",
         "parity": "none", "deadband": "2%", "heartbeat": 60},
    ], "homeassistant": {"discovery": True}}
    assert not list(check.iter_errors(good))
    for bad in (
        {"devices": [{"id": "a", "driver": "simulated", "sensors": ["co2"], "colour": 1}]},
        {"devices": [{"id": "b", "driver": "serial", "port": "p", "protocol": "morse"}]},
        {"devices": [{"id": "c", "driver": "teleport"}]},
        {"devices": [{"id": "d", "sensors": ["co2"]}]},  # no driver
        {"mqtt": {"port": 70000}},
        {"mqtt": {"hots": "x"}},
    ):
        assert list(check.iter_errors(bad)), bad
    union = json_schema()["properties"]["devices"]["items"]
    assert set(union["discriminator"]["mapping"]) >= {"serial", "simulated"}


# --- init --------------------------------------------------------------------------------------


def test_init_writes_a_config_that_passes_check_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    first = run_cli("init", "--config", str(path))
    assert first.returncode == 0, first.stderr
    check = run_cli("check", "--config", str(path))
    assert check.returncode == 0, check.stderr
    assert "demo (simulated" in check.stdout
    path.write_text("# mine\n")
    again = run_cli("init", "--config", str(path))
    assert again.returncode == 1
    assert "exists" in again.stderr and "not overwriting" in again.stderr
    assert path.read_text() == "# mine\n"


def usb_port(device: str, vid: int, pid: int, description: str) -> ListPortInfo:
    """A USB serial adapter as pyserial describes one (no such hardware here: built by hand)."""
    port = ListPortInfo(device, skip_link_detection=True)
    port.vid, port.pid, port.description, port.manufacturer = vid, pid, description, "FTDI"
    return port


def test_init_from_scan_config_passes_check(tmp_path: Path) -> None:
    """Ports as pyserial reports USB adapters (there are none on a test machine), with real
    by-id symlinks in a temporary directory standing in for /dev/serial/by-id."""
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    tty = tmp_path / "ttyUSB0"
    tty.touch()
    (by_id / "usb-FTDI_FT232R_A1-if00-port0").symlink_to(tty)
    ports = describe([usb_port(str(tty), 0x0403, 0x6001, "FT232R USB UART"),
                      usb_port(str(tmp_path / "ttyACM0"), 0x2341, 0x0043, 'Arduino "Uno"')],
                     by_id)
    assert ports[1].by_id == str(by_id / "usb-FTDI_FT232R_A1-if00-port0")
    assert ports[1].usb_id == "0403:6001"
    table = format_ports(ports)
    assert "0403:6001" in table and "usb-FTDI_FT232R_A1-if00-port0" in table
    path = write_config(tmp_path / "scan.toml", starter_config(tmp_path / "scan.toml", starter_blocks(set(), ports)))
    check = run_cli("check", "--config", str(path))
    assert check.returncode == 0, check.stderr
    devices = tomllib.loads(path.read_text())["devices"]
    assert [d["port"] for d in devices] == [str(tmp_path / "ttyACM0"),
                                            str(by_id / "usb-FTDI_FT232R_A1-if00-port0")]


# --- scan --------------------------------------------------------------------------------------


def test_scan_serial_lists_this_machines_ports() -> None:
    from serial.tools import list_ports

    result = run_cli("scan", "serial", "--json")
    assert result.returncode == 0, result.stderr
    listed = [p["device"] for p in json.loads(result.stdout)]
    assert listed == sorted(p.device for p in list_ports.comports())
    plain = run_cli("scan", "serial")
    assert plain.returncode == 0
    assert plain.stdout.startswith("PORT") or "no serial ports found" in plain.stdout


# --- monitor -----------------------------------------------------------------------------------


def test_monitor_state_plain_lines() -> None:
    state = MonitorState("r/gw")
    assert state.handle("r/gw/status", b"online", 0.0) == ["gateway: online"]
    assert state.handle("r/gw/k/status", b"offline", 0.0) == ["k: offline"]
    line = state.handle("r/gw/k/t", b'{"value": 21.5, "unit": "\xc2\xb0C", "ts": "T", "seq": 3}',
                        1.0)
    assert line == ["k/t = 21.5 °C at T (seq 3)"]
    state.handle("r/gw/k/t", b'{"value": 21.6, "unit": "\xc2\xb0C", "ts": "T2", "seq": 4}', 2.0)
    body = b'{"ts": "T", "seq": 1, "readings": {"p": {"value": 1013, "unit": "hPa"}}}'
    assert state.handle("r/gw/dev", body, 2.0) == ["dev/p = 1013 hPa at T (seq 1)"]
    assert state.handle("r/gw/k/t", b"garbage", 2.0) == []
    assert state.handle("other/x", b"1", 2.0) == []
    rows = list(state.rows(3.0))
    assert rows[1] == ("k", "offline", "t", "21.6 °C", "1.0s", "30.0/min")  # 1 in 2 s
    assert list(state.rows(200.0))[1][5] == "0.0/min"  # quiet for minutes: no rate


async def test_monitor_plain_output_against_a_running_gateway(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    text = base_config(mosquitto.port, "mon") + simulated("kitchen", 0.05,
                                                          '["temperature", "humidity"]')
    config = write_config(tmp_path / "c.toml", text)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    async with running(settings_from(tmp_path, text)):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "monitor", "--config", str(config),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        try:
            assert proc.stdout is not None
            seen: list[str] = []
            async with asyncio.timeout(20):
                while not any("kitchen/humidity = " in s for s in seen) or not any(
                        "kitchen: online" in s for s in seen):
                    line = (await proc.stdout.readline()).decode()
                    assert line, "monitor exited early"
                    seen.append(line)
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(10):
                code = await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert code == 0
    reading = next(s for s in seen if "kitchen/temperature = " in s)
    assert "°C at 20" in reading and "(seq " in reading


def test_monitor_needs_a_valid_config(tmp_path: Path) -> None:
    result = run_cli("monitor", "--config", str(tmp_path / "missing.toml"))
    assert result.returncode == 2
    assert "config file not found" in result.stderr


@pytest.mark.parametrize("command", [["scan", "serial"], ["schema"], ["init", "--help"]])
def test_standalone_commands_do_not_import_driver_stacks(command: list[str]) -> None:
    code = ("import sys, runpy\n"
            f"sys.argv = ['sensor-gateway', *{command!r}]\n"
            "from gateway.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('bleak', 'pymodbus', 'aiomqtt', 'rich') if m in sys.modules])\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_check_shows_report_by_exception(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", simulated(
        "meter", 1.0, '["voltage", "humidity", "co2"]',
        'deadband = { voltage = 0.05, humidity = "2%" }\nheartbeat = { voltage = 60 }'))
    result = run_cli("check", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert "report by exception: voltage 0.05 (heartbeat 60s), humidity 2%\n" in result.stdout


def test_monitor_live_table_renders() -> None:
    from rich.console import Console

    from gateway.cli.monitor import _table

    state = MonitorState("r/gw")
    state.handle("r/gw/status", b"online", 0.0)
    state.handle("r/gw/k/status", b"offline", 0.0)
    state.handle("r/gw/k/t", b'{"value": 21.5, "unit": "\xc2\xb0C", "ts": "T", "seq": 3}', 0.0)
    console = Console(record=True, width=100, color_system=None)
    console.print(_table(state))
    text = console.export_text()
    assert "r/gw  (gateway online)" in text
    assert "k" in text and "offline" in text and "21.5 °C" in text

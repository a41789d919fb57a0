"""Embedded broker quickstart, lazy driver imports, python -m gateway."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

from support.broker import free_port
from support.daemon import REPO, DaemonProcess, python_output, run_cli, write_config
from support.mqtt import collect


def test_example_config_is_valid() -> None:
    result = run_cli("check", "--config", str(REPO / "config.example.toml"))
    assert result.returncode == 0, result.stderr
    assert "embedded broker" in result.stdout


async def test_embedded_broker_quickstart(tmp_path: Path) -> None:
    port = free_port()
    text = (REPO / "config.example.toml").read_text().replace("port = 1883", f"port = {port}")
    config = write_config(tmp_path / "c.toml", text)
    with DaemonProcess(config) as daemon:
        assert daemon.proc is not None and daemon.proc.stdout is not None
        line = ""
        while "running:" not in line:
            line = await asyncio.to_thread(daemon.proc.stdout.readline)
            assert line, "daemon exited early"
        async with collect("127.0.0.1", port, "sensor-gateway/#") as sub:
            await sub.wait_for(lambda: any(m.topic.endswith("/temperature") for m in sub.messages))
        daemon.signal(signal.SIGTERM)
        code, output = await asyncio.to_thread(daemon.wait)
    assert code == 0, output


def test_simulated_only_config_never_imports_ble_or_modbus(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", '[[devices]]\nid = "a"\ndriver = "simulated"\n'
                          'sensors = ["co2"]\n')
    code = (
        "import sys, asyncio\n"
        "from gateway.config import load_config\n"
        "from gateway.daemon import Gateway\n"
        f"s = load_config(__import__('pathlib').Path({str(config)!r}))\n"
        "g = Gateway(s)\n"
        "heavy = [m for m in ('bleak', 'pymodbus', 'dbus_fast', 'serial_asyncio_fast', 'pynmea2')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    assert python_output(code, timeout=30).strip() == "[]"


def test_python_dash_m_gateway_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and "sensor-gateway" in result.stdout


def test_output_into_a_closed_pipe_is_not_an_error() -> None:
    """`sensor-gateway schema | head -c 10`: the reader goes away; exit 0, no traceback."""
    reader = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL)
    assert reader.stdin is not None
    result = subprocess.run([sys.executable, "-m", "gateway", "schema"], cwd=REPO,
                            stdout=reader.stdin, stderr=subprocess.PIPE, text=True,
                            timeout=30, check=False)
    reader.stdin.close()
    reader.wait(10)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

"""Serial device options: validated per protocol, errors name the key."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from support.daemon import REPO, run_cli
from support.inproc import config_problems as problems

from drivers.serial.config import SerialConfig
from gateway.config import load_config


def device(extra: str) -> str:
    return f'[[devices]]\nid = "s"\ndriver = "serial"\nport = "/dev/ttyUSB0"\n{extra}\n'


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ('protocol = "zmodem"', "devices[0].protocol", "'json'"),
        ("", "devices[0].protocol", "required"),
        ('protocol = "json"\nbaudrate = 0', "devices[0].baudrate", "must be > 0"),
        ('protocol = "json"\nparity = "Q"', "devices[0].parity", "'N'"),
        ('protocol = "json"\nstopbits = 3', "devices[0].stopbits", "1, 1.5 or 2"),
        ('protocol = "json"\nbytesize = 9', "devices[0].bytesize", "5"),
        ('protocol = "regex"', "devices[0].pattern", "required with protocol = 'regex'"),
        ('protocol = "regex"\npattern = "([0-9]+)"', "devices[0].pattern", "named group"),
        ('protocol = "regex"\npattern = "(?P<t>["', "devices[0].pattern", "invalid regex"),
        ('protocol = "pms5003"\npattern = "(?P<t>x)"', "devices[0].pattern", "only used with"),
        ('protocol = "modbus"', "devices[0].unit", "required with protocol = 'modbus'"),
        ('protocol = "modbus"\nunit = 1', "devices[0].registers", "required"),
        ('protocol = "modbus"\nunit = 1\nregisters = [{ name = "v", address = 0, type = "int8" }]',
         "devices[0].registers[0].type", "'int16'"),
        ('protocol = "modbus"\nunit = 1\nregisters = [{ name = "v", adress = 0 }]',
         "devices[0].registers[0].adress", "unknown key"),
        ('protocol = "json"\nmax_line_length = 4', "devices[0].max_line_length", ">= 16"),
        ('protocol = "csv"\nscale = { t = nan }', "devices[0].scale", "finite"),
        ('protocol = "sds011"\ninterval = 0', "devices[0].interval", "must be > 0"),
    ],
)
def test_serial_config_errors(tmp_path: Path, extra: str, key: str, message: str) -> None:
    found = problems(tmp_path, device(extra))
    assert any(k == key and message in m for k, m in found), found


def test_parity_words_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(device('protocol = "pms5003"\nparity = "even"'))
    [config] = load_config(path).devices
    assert isinstance(config, SerialConfig)
    assert config.parity == "E"
    assert config.offline_after() == 30.0
    assert config.publish_interval() is None
    names = config.sensor_names()
    assert names is not None
    assert names[:3] == ["pm1_0", "pm2_5", "pm10"]


async def test_simulate_serial_prints_a_working_config(tmp_path: Path) -> None:
    link = tmp_path / "ttySIM"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "simulate", "serial", "--protocol", "modbus",
        "--link", str(link), stdout=asyncio.subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(15):
            while not lines or lines[-1].strip() != "]":
                line = (await proc.stdout.readline()).decode()
                assert line, "simulator exited"
                lines.append(line)
        assert str(link) in lines[0] and link.is_symlink()
        config = tmp_path / "c.toml"
        config.write_text("".join(lines[lines.index("[[devices]]\n"):]))
        result = run_cli("check", "--config", str(config))
        assert result.returncode == 0, result.stderr
        assert "voltage, current, power, energy" in result.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        finally:  # never leak it, even when it did not stop
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0
    assert not link.exists(), "the simulator removes its port when it stops"

"""The docs' worked example driver (docs/examples/tcp_sensor.py), run the way a third-party
driver runs: registered through a real ``sensor_gateway.drivers`` entry point (the metadata pip
writes), validated by ``check``, and read by the real daemon from a real TCP server into a real
Mosquitto. If the SDK changes under it, this fails and the "Writing a driver" page gets fixed.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.broker import Mosquitto
from support.daemon import REPO, DaemonProcess, base_config, run_cli, write_config
from support.entrypoints import register_example
from support.mqtt import collect
from tcp_sensor import TcpSensorConfig, parse_line

from gateway.sdk import DecodeError, Measurement


def env(tmp_path: Path) -> dict[str, str]:
    paths = [REPO, REPO / "docs" / "examples", register_example(tmp_path / "site-packages")]
    return {"PYTHONPATH": os.pathsep.join(str(p) for p in paths)}


def device(port: int, extra: str = "") -> str:
    return ('[[devices]]\nid = "shed"\ndriver = "tcp-sensor"\nhost = "127.0.0.1"\n'
            f'port = {port}\ninterval = 0.2\nunits = {{ temperature = "°C" }}\n{extra}')


# --- the decoder -------------------------------------------------------------------------------

def test_a_line_of_pairs_becomes_measurements() -> None:
    assert parse_line(b"temperature=21.5 humidity=40\r\n", {"temperature": "°C"}) == [
        Measurement("temperature", 21.5, "°C"), Measurement("humidity", 40.0, None)]


@pytest.mark.parametrize("line", [b"", b"\n", b"temperature", b"t=", b"=3", b"t=abc",
                                  b"t=nan", b"t=inf", b"t=1 junk", "t=1°".encode()])
def test_anything_else_is_a_decode_error(line: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        parse_line(line, {})
    assert caught.value.kind == "garbage"


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_decode_errors(data: bytes) -> None:
    try:
        readings = parse_line(data, {})
    except DecodeError:
        return
    assert readings and all(isinstance(m.value, float) for m in readings)


def test_the_config_checks_its_keys() -> None:
    config = TcpSensorConfig.model_validate({"id": "a", "host": "h", "port": 7000})
    assert config.command == "READ" and config.device_model().model == "TCP sensor at h"
    with pytest.raises(ValueError, match="port"):
        TcpSensorConfig.model_validate({"id": "a", "host": "h", "port": 70000})


# --- through the entry point and the real daemon ---------------------------------------------

class Sensor:
    """A TCP sensor: answers each READ with a line; the second answer is garbage, and the first
    connection is closed after its fourth answer (the driver must connect again)."""

    def __init__(self) -> None:
        self.connections = 0
        self.answers = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first = self.connections == 1
        try:
            for n in range(1, 1000):
                if await reader.readline() != b"READ\n":
                    return
                self.answers += 1
                answer = b"%%%\n" if self.answers == 2 else b"temperature=21.5 humidity=40\n"
                writer.write(answer)
                await writer.drain()
                if first and n == 4:
                    return
        except ConnectionError:
            pass
        finally:
            writer.close()


@asynccontextmanager
async def tcp_sensor() -> AsyncIterator[tuple[Sensor, int]]:
    sensor = Sensor()
    server = await asyncio.start_server(sensor.serve, "127.0.0.1", 0)
    async with server:
        yield sensor, server.sockets[0].getsockname()[1]


def test_check_knows_the_registered_kind(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.toml", base_config(1883, "ex") + device(7000))
    result = run_cli("check", "--config", str(path), env=env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "shed (tcp-sensor" in result.stdout
    bad = write_config(tmp_path / "bad.toml", base_config(1883, "ex") + device(70000))
    result = run_cli("check", "--config", str(bad), env=env(tmp_path))
    assert result.returncode == 2
    assert "devices[0].port:" in result.stderr


async def test_the_daemon_reads_it_through_the_entry_point(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    topic = "sensor-gateway/example/shed/temperature"
    async with tcp_sensor() as (sensor, port), \
            collect(mosquitto.host, mosquitto.port, topic) as sub:
        config = write_config(tmp_path / "c.toml", base_config(mosquitto.port, "example")
                              + device(port))
        with DaemonProcess(config, env=env(tmp_path)) as daemon:
            await sub.wait_for(lambda: len(sub.on(topic)) >= 6 and sensor.connections >= 2,
                               timeout=30)
            daemon.signal(signal.SIGTERM)
            code, out = await asyncio.to_thread(daemon.wait)
    first = sub.on(topic)[0].json
    assert (first["value"], first["unit"]) == (21.5, "°C")
    assert [m.json["seq"] for m in sub.on(topic)][:6] == [1, 2, 3, 4, 5, 6]
    assert code == 0, out
    assert "[shed] garbage: not a name=number pair: '%%%'" in out
    assert "the sensor closed the connection" in out

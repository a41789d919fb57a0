"""Both data paths behind the Publisher (``[mqtt] client``) keep the same public contract."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.broker import Mosquitto
from support.daemon import REPO, base_config, simulated
from support.inproc import running, settings_from
from support.mqtt import collect
from support.wait import until


@pytest.mark.parametrize("client", ["lean", "aiomqtt"])
async def test_contract_on_both_paths(tmp_path: Path, mosquitto: Mosquitto, client: str) -> None:
    root = f"sensor-gateway/path-{client}"
    text = base_config(mosquitto.port, f"path-{client}", f'client = "{client}"') + simulated(
        "bench", 0.01, '["temperature", "humidity", "pressure"]')
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            assert gateway.settings.mqtt.client == client
            await sub.wait_for(lambda: len(sub.on(f"{root}/bench/pressure")) >= 20)
            await sub.wait_for(lambda: sub.on(f"{root}/status"))
            published = gateway.publisher.published
            await until(lambda: gateway.publisher.published > published)
        await sub.wait_for(lambda: sub.on(f"{root}/status")[-1].text == "offline")
    assert sub.on(f"{root}/status")[0].text == "online"
    for sensor in ("temperature", "humidity", "pressure"):
        seqs = [m.json["seq"] for m in sub.on(f"{root}/bench/{sensor}")]
        assert seqs == list(range(1, len(seqs) + 1))
    # Every reading the publisher counted as acknowledged reached the subscriber.
    delivered = len(sub.under(f"{root}/bench/")) - len(sub.on(f"{root}/bench/status"))
    assert delivered >= gateway.publisher.published


async def test_lean_path_survives_a_broker_restart(tmp_path: Path,
                                                   own_mosquitto: Mosquitto) -> None:
    root = "sensor-gateway/lean-restart"
    text = base_config(own_mosquitto.port, "lean-restart") + simulated("d", 0.01)
    async with running(settings_from(tmp_path, text)) as gateway:
        await until(lambda: gateway.publisher.published >= 20)
        own_mosquitto.kill()
        await until(lambda: not gateway.publisher.connected.is_set())
        queued = gateway.buffer.stats()
        own_mosquitto.start()
        async with collect(own_mosquitto.host, own_mosquitto.port, f"{root}/#") as sub:
            await until(gateway.publisher.connected.is_set)
            await sub.wait_for(lambda: len(sub.on(f"{root}/d/temperature")) > queued.queued)
        assert gateway.publisher.reconnects >= 1
    seqs = [m.json["seq"] for m in sub.on(f"{root}/d/temperature")]
    assert seqs == sorted(seqs)  # in order (a resent in-flight reading may repeat)
    assert set(seqs) == set(range(seqs[0], seqs[-1] + 1))  # and no gap


def test_lean_daemon_does_not_import_aiomqtt(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """aiomqtt and paho cost ~2 MB RSS and start-up time: only the fallback path loads them."""
    config = tmp_path / "c.toml"
    config.write_text(base_config(mosquitto.port, "lazy-mqtt") + simulated("d", 0.05))
    code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from gateway.config import load_config\n"
        "from gateway.daemon import Gateway\n"
        "async def main():\n"
        f"    gateway = Gateway(load_config(Path({str(config)!r})))\n"
        "    stop = asyncio.Event()\n"
        "    task = asyncio.create_task(gateway.run(stop))\n"
        "    async with asyncio.timeout(20):\n"
        "        while gateway.publisher.published < 3:\n"
        "            await asyncio.sleep(0.01)\n"
        "    stop.set()\n"
        "    await task\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('aiomqtt', 'paho')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


async def test_lean_path_sends_a_state_change_before_the_readings_that_caused_it(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    root = "sensor-gateway/lean-order"
    text = base_config(mosquitto.port, "lean-order") + simulated("d", 0.02)
    async with collect(mosquitto.host, mosquitto.port, f"{root}/d/#") as sub:
        async with running(settings_from(tmp_path, text)):
            await sub.wait_for(lambda: len(sub.on(f"{root}/d/temperature")) >= 3)
    topics = [m.topic for m in sub.messages]
    assert topics[0] == f"{root}/d/status"
    assert sub.messages[0].text == "online"

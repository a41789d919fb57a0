"""Broker failover ([mqtt] servers): the first broker dies, the gateway goes on with the second,
nothing is lost. Two real Mosquittos, a real daemon process, the disk outbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.broker import Mosquitto
from support.daemon import simulated, write_config
from support.faults import LoggedDaemon, SeqSubscriber, check_seqs, outbox_seqs
from support.wait import until


def failover_config(tmp_path: Path, gateway_id: str, ports: list[int], client: str) -> Path:
    servers = ", ".join(f'"127.0.0.1:{port}"' for port in ports)
    text = (f'[gateway]\nid = "{gateway_id}"\nshutdown_timeout = 5\n'
            f'[mqtt]\nservers = [{servers}]\nreconnect_delay_max = 0.5\nclient = "{client}"\n'
            f'[buffer]\npath = "{tmp_path / "outbox.db"}"\ncommit_interval = 0.1\n'
            + simulated("fo", 0.01))
    return write_config(tmp_path / "config.toml", text)


@pytest.mark.parametrize("client", ["lean", "aiomqtt"])
async def test_the_second_server_takes_over_when_the_first_dies_and_nothing_is_lost(
    tmp_path: Path, client: str,
) -> None:
    # The first broker keeps its sessions on disk: after the test it comes back once, so the
    # subscriber also gets what it had acknowledged to the gateway but not yet passed on.
    first = Mosquitto(tmp_path / "a", persistence=True)
    second = Mosquitto(tmp_path / "b")
    root = "sensor-gateway/fo"
    topic = f"{root}/fo/temperature"
    cfg = failover_config(tmp_path, "fo", [first.port, second.port], client)
    with first, second:
        async with (SeqSubscriber(first.host, first.port, f"{root}/#", "fo-a") as on_a,
                    SeqSubscriber(second.host, second.port, f"{root}/#", "fo-b") as on_b):
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                await on_a.wait_for(lambda: on_a.count(topic) >= 100)
                assert on_b.count(topic) == 0  # the first server is used while it lives
                first.stop()  # the first broker goes away for good
                await on_b.wait_for(lambda: on_b.count(topic) >= 200)
                # statuses and retained messages are sent again on the new server
                await on_b.wait_for(lambda: "online" in on_b.texts.get(f"{root}/status", []))
                await on_b.wait_for(lambda: "online" in on_b.texts.get(f"{root}/fo/status", []))
                await daemon.wait_log(f"connected to 127.0.0.1:{second.port}")
                assert f"retrying with 127.0.0.1:{second.port}" in daemon.text()
                assert await daemon.terminate() == 0
            produced = outbox_seqs(tmp_path / "outbox.db")[topic]
            first.start()  # what the first broker acknowledged reaches its subscriber now
            await on_a.wait_for(on_a.connected.is_set)

            def complete() -> bool:
                return set(range(1, produced + 1)) <= set(on_a.seqs[topic] + on_b.seqs[topic])

            await until(complete, timeout=20)  # two subscribers: no single event to wait on
    result = check_seqs(on_a.seqs[topic] + on_b.seqs[topic], produced)
    assert result["lost"] == 0

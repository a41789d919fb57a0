"""Fast recovery without storms (#14 item 4): while the broker's port refuses connections the
publisher looks again every 0.5-1 x ``reconnect_spread`` seconds, however far its backoff has
grown, so it is back soon after the broker returns; other failures still back off. A real
Mosquitto, stopped and started again; a real refused port (nothing listening)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from support.broker import Mosquitto, free_port
from support.inproc import settings_from
from support.wait import until

from gateway.core.backoff import Backoff
from gateway.core.topics import TopicLayout
from gateway.delivery.buffer import MemoryBuffer
from gateway.errors import BrokerDown, MqttConnectionLost
from gateway.mqtt.publisher import Publisher
from gateway.mqtt.trouble import ConnectionTrouble


@pytest.mark.parametrize("client", ["lean", "aiomqtt"])
async def test_a_port_nobody_listens_on_is_broker_down(tmp_path: Path, client: str) -> None:
    port = free_port()  # nothing listens there: the kernel answers the SYN with a reset
    settings = settings_from(tmp_path, f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
                                       f'client = "{client}"\n')
    publisher = Publisher(settings.mqtt, TopicLayout("rec/gw"), MemoryBuffer(), "rec")
    with pytest.raises(BrokerDown):
        async with publisher._connect():
            pass


def test_a_refused_port_is_retried_at_the_spread_however_long_the_backoff() -> None:
    trouble = ConnectionTrouble(Backoff(0.2, 30.0), clock=lambda: 0.0, spread=1.5)
    for _ in range(10):  # the backoff's ceiling is now 30 s
        trouble.ended(MqttConnectionLost("cannot connect: timed out"), "b:1883", "")
    assert trouble.ended(MqttConnectionLost("timed out"), "b:1883", "") >= 15.0
    delays = [trouble.ended(BrokerDown("cannot connect: refused"), "b:1883", "")
              for _ in range(200)]
    assert 0 <= delays[0] <= 1.5  # a random phase first...
    assert min(delays[1:]) >= 1.35 and max(delays[1:]) <= 1.65  # ...then every 1.5 s +-10 %


def test_a_fleet_that_lost_the_broker_together_probes_at_spread_phases() -> None:
    firsts = []
    for _ in range(200):
        trouble = ConnectionTrouble(Backoff(0.2, 30.0), clock=lambda: 0.0, spread=15.0)
        trouble.ended(MqttConnectionLost("connection lost"), "b:1883", "")
        firsts.append(trouble.ended(BrokerDown("cannot connect: refused"), "b:1883", ""))
    per_second = [sum(1 for f in firsts if s <= f < s + 1) for s in range(15)]
    assert max(per_second) <= 0.2 * len(firsts)  # no second takes a fifth of the fleet
    assert min(firsts) >= 0 and max(firsts) <= 15


async def test_the_publisher_is_back_soon_after_a_long_outage(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    with broker:
        settings = settings_from(tmp_path, f'[mqtt]\nhost = "127.0.0.1"\nport = {broker.port}\n'
                                           "reconnect_delay_max = 60\nreconnect_spread = 1\n")
        publisher = Publisher(settings.mqtt, TopicLayout("rec/gw"), MemoryBuffer(), "rec")
        task = asyncio.create_task(publisher.run(), name="test-publisher")
        try:
            async with asyncio.timeout(10):
                await publisher.connected.wait()
            broker.stop()
            failed = publisher.reconnects
            # 8 failed attempts: a plain 0.2 s-doubling backoff would wait 13-26 s more now
            await until(lambda: publisher.reconnects >= failed + 8, timeout=40)
            assert not publisher.connected.is_set()
            broker.start()
            async with asyncio.timeout(4):  # 1 s spread, generous for a loaded machine
                await publisher.connected.wait()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

"""A real daemon speaking MQTT 5 (``[mqtt] protocol = 5``) to a real Mosquitto 2 configured with
limits and an ACL, and to amqtt, which speaks 3.1.1 only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
from support.broker import amqtt_broker, mosquitto, password_file
from support.daemon import write_config
from support.faults import LoggedDaemon
from support.mqtt import collect

ACL = """topic read #
user gw
topic write mq5/gw/+/status
topic write mq5/gw/status
topic write mq5/gw/ok/#
topic write mq5/gw/big/#
topic write mq5/gw/stats
"""  # anonymous clients (the test's subscriber) may read; the gateway's user writes where allowed


def config(tmp_path: Path, port: int, mqtt: str, devices: str) -> Path:
    return write_config(tmp_path / "config.toml", (
        f'[gateway]\nid = "gw"\nshutdown_timeout = 5\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nprotocol = 5\nreconnect_delay_max = 0.5\n'
        f'topic_root = "mq5/{{gateway_id}}"\n{mqtt}\n' + devices))


def device(device_id: str, interval: float = 0.05, sensors: int = 1) -> str:
    names = ["temperature", "humidity", "pressure", "co2", "pm25", "battery"][:sensors]
    return (f'[[devices]]\nid = "{device_id}"\ndriver = "simulated"\ninterval = {interval}\n'
            f"sensors = {names!r}\n".replace("'", '"'))


async def test_readings_flow_through_topic_aliases_within_the_broker_limits(
    tmp_path: Path,
) -> None:
    # Receive Maximum 10 below our max_inflight of 100, 3 aliases for 6 topics: every reading
    # arrives under its full topic and the broker never has to cut us off.
    with mosquitto(tmp_path, "max_inflight_messages 10", "max_topic_alias 3") as port:
        async with collect("127.0.0.1", port, "mq5/gw/ok/#") as sub:
            cfg = config(tmp_path, port, "max_inflight = 100", device("ok", 0.01, 6))
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                topics = [f"mq5/gw/ok/{n}" for n in
                          ("temperature", "humidity", "pressure", "co2", "pm25", "battery")]
                await sub.wait_for(lambda: all(len(sub.on(t)) >= 100 for t in topics), 30)
                assert await daemon.terminate() == 0
            assert daemon.text().count("connected to") == 1, daemon.text()  # never cut off
            for topic in topics:
                seqs = [m.json["seq"] for m in sub.on(topic)]
                assert seqs == list(range(1, len(seqs) + 1))


async def test_refused_and_oversized_readings_are_dropped_and_the_rest_flows(
    tmp_path: Path,
) -> None:
    (tmp_path / "acl").write_text(ACL)
    passwd = password_file(tmp_path / "passwd", "gw", "secret")
    big = "big" + "x" * 300  # its topic alone is longer than the broker's 300-byte maximum
    with mosquitto(tmp_path, f"acl_file {tmp_path / 'acl'}",
                         f"password_file {passwd}",
                         "max_packet_size 300") as port:
        (tmp_path / "pw").write_text("secret")
        mqtt = f'username = "gw"\npassword_file = "{tmp_path / "pw"}"'
        cfg = config(tmp_path, port, mqtt, device("ok") + device("denied") + device(big))
        async with collect("127.0.0.1", port, "mq5/gw/#") as sub:
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                await sub.wait_for(lambda: len(sub.on("mq5/gw/ok/temperature")) >= 60, 30)
                await daemon.wait_log("refused a reading on mq5/gw/denied/temperature: "
                                      "not authorised (0x87)")
                await daemon.wait_log(f"a reading on mq5/gw/{big}/temperature is not sent: ")
                assert "Maximum Packet Size of 300" in daemon.text()
                assert await daemon.terminate() == 0
        log = daemon.text()
        assert log.count("refused a reading on mq5/gw/denied/temperature") == 1  # once
        assert log.count("connected to") == 1  # refusals cost no connection
        seqs = [m.json["seq"] for m in sub.on("mq5/gw/ok/temperature")]
        assert seqs == list(range(1, len(seqs) + 1))
        assert not sub.on("mq5/gw/denied/temperature")


async def test_message_expiry_keeps_old_readings_from_a_late_subscriber(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as port:
        # A persistent subscriber session, then away: the broker queues for it.
        async with aiomqtt.Client("127.0.0.1", port, identifier="late", clean_session=False) as c:
            await c.subscribe("mq5/gw/old/#", qos=1)
        cfg = config(tmp_path, port, "message_expiry = 1", device("old", 0.2))
        with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
            async with collect("127.0.0.1", port, "mq5/gw/old/#") as live:
                await live.wait_for(lambda: len(live.on("mq5/gw/old/temperature")) >= 10, 20)
            assert await daemon.terminate() == 0
        # The fault: time passes. Mosquitto keeps expiry times in whole seconds and drops a
        # message only once `now > received + interval`, so a 1 s expiry can last just under
        # 2 s (CI saw the last two readings survive a 1.5 s wait): wait 3 s.
        await asyncio.sleep(3.0)
        got: list[bytes] = []
        async with aiomqtt.Client("127.0.0.1", port, identifier="late",
                                  clean_session=False) as late:
            await late.subscribe("mq5/gw/old/#", qos=1)  # a fresh control message after
            await late.publish("mq5/gw/old/marker", b"end", qos=1)
            async with asyncio.timeout(10):
                async for message in late.messages:
                    if str(message.topic) == "mq5/gw/old/marker":
                        break
                    if str(message.topic).endswith("/temperature"):
                        got.append(bytes(message.payload))
        assert got == []  # expired at the broker, not delivered late as if new


async def test_a_broker_without_mqtt5_is_named_as_such(tmp_path: Path) -> None:
    with amqtt_broker() as port:
        cfg = config(tmp_path, port, "", device("x"))
        with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
            await daemon.wait_log("may not speak MQTT 5", 30)
            assert await daemon.terminate() == 0
    assert 'set [mqtt] protocol = "3.1.1"' in daemon.text()

"""MQTT 3.1.1 against brokers configured as production brokers are (#18): packet size limits,
ACLs, password files, a broker that refuses a subscription (amqtt), one that accepts and then
hangs up, and one that keeps no retained messages. One message the broker cannot take never
stops the others; refusals are explained once, not retried at 5-10 Hz.

Real Mosquitto and amqtt processes throughout; a tiny loopback server stands in only for the
broker that answers CONNECT and hangs up at once (neither broker can be told to do that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest
from support.broker import amqtt_broker, free_port, mosquitto, password_file
from support.daemon import simulated, write_config
from support.faults import LoggedDaemon
from support.inproc import settings_from
from support.metrics import scrape_until
from support.mqtt import Msg, collect
from support.wait import until

from gateway.core.topics import TopicLayout
from gateway.delivery.buffer import Entry, MemoryBuffer
from gateway.errors import MqttRefused
from gateway.mqtt.client import (
    MAX_WINDOW,
    STATUS_WINDOW,
    LeanClient,
    Publishable,
    Will,
    lean_connect,
)
from gateway.mqtt.publisher import Publisher

CLIENTS = ["lean", "aiomqtt"]


def gateway_config(tmp_path: Path, port: int, mqtt: str = "", rest: str = "") -> Path:
    return write_config(tmp_path / "config.toml", (
        '[gateway]\nid = "gw"\nshutdown_timeout = 5\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nreconnect_delay_max = 2\n'
        f'topic_root = "lim/{{gateway_id}}"\n{mqtt}\n{rest}'))


BIG = "s" + "x" * 400  # a sensor name that makes every reading's topic over 400 bytes


def oversize_devices(metrics: int) -> str:
    """Discovery on (its configs are over 400 bytes), metrics, a normal device and ``big``."""
    return ("[homeassistant]\ndiscovery = true\n"
            f'[metrics]\nlisten = "127.0.0.1:{metrics}"\n'
            + simulated("ok", 0.05)
            + simulated("big", 0.05, f'[{{ name = "{BIG}", profile = "temperature" }}]'))


def seqs(messages: list[Msg]) -> list[int]:
    return [m.json["seq"] for m in messages]


@pytest.mark.parametrize("client", CLIENTS)
async def test_an_oversized_message_is_not_sent_and_everything_else_flows(
    tmp_path: Path, client: str,
) -> None:
    """Mosquitto ``max_packet_size 400`` with Home Assistant discovery on: every discovery
    config is larger, and so is every reading of a device with a very long sensor name. Before,
    the gateway reconnected 160 times in 20 s and delivered nothing."""
    metrics = free_port()
    rest = oversize_devices(metrics)
    with mosquitto(tmp_path, "max_packet_size 400") as port:
        cfg = gateway_config(tmp_path, port, f'client = "{client}"\nmax_packet_size = 400',
                             rest)
        async with collect("127.0.0.1", port, "lim/gw/#") as sub:
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                await sub.wait_for(lambda: len(sub.on("lim/gw/ok/temperature")) >= 40, 30)
                got = await scrape_until(metrics, "sensor_gateway_readings_rejected_total",
                                         {"device": "big", "reason": "too_large"}, 5)
                await daemon.wait_log(f"a reading on lim/gw/big/{BIG} is not sent: ")
                await daemon.wait_log("a status or retained message (e.g. a Home Assistant "
                                      "discovery config) on homeassistant/")
                assert await daemon.terminate() == 0
    log = daemon.text()
    assert log.count("connected to") == 1, log  # the broker never had to cut us off
    assert "unavailable" not in log
    assert "more than the configured maximum ([mqtt] max_packet_size) of 400" in log
    assert log.count(f"a reading on lim/gw/big/{BIG} is not sent") == 1  # once per topic
    assert ("sensor_gateway_readings_rejected_total", (("device", "ok"), ("reason", "too_large"))
            ) not in got
    ok = seqs(sub.on("lim/gw/ok/temperature"))
    assert ok == list(range(1, len(ok) + 1))
    assert [m.text for m in sub.on("lim/gw/big/status")][:1] == ["online"]
    assert not sub.on(f"lim/gw/big/{BIG}")


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_message_the_broker_hangs_up_on_twice_is_quarantined(
    tmp_path: Path, client: str,
) -> None:
    """The same broker, but the gateway is not told its limit (MQTT 3.1.1 cannot learn it):
    Mosquitto hangs up on each oversized packet. The message it hung up on twice in a row is
    quarantined (with what is as large on its topic) and everything else gets through."""
    metrics = free_port()
    rest = oversize_devices(metrics)
    with mosquitto(tmp_path, "max_packet_size 400") as port:
        cfg = gateway_config(tmp_path, port, f'client = "{client}"', rest)
        async with collect("127.0.0.1", port, "lim/gw/#") as sub:
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                await scrape_until(metrics, "sensor_gateway_readings_rejected_total",
                                   {"device": "big", "reason": "quarantined"}, 10, timeout=60)
                await daemon.wait_log("a status or retained message (e.g. a Home Assistant "
                                      "discovery config) on homeassistant/", 30)
                flowing = len(sub.on("lim/gw/ok/temperature"))
                await sub.wait_for(
                    lambda: len(sub.on("lim/gw/ok/temperature")) >= flowing + 40, 30)
                assert await daemon.terminate() == 0
    log = daemon.text()
    assert f"a reading on lim/gw/big/{BIG} is not sent: the broker closed the connection " \
           "right after receiving a message this large" in log, log
    ok = set(seqs(sub.on("lim/gw/ok/temperature")))
    assert ok == set(range(1, max(ok) + 1))  # duplicates after a hang-up, never a gap
    assert not sub.on(f"lim/gw/big/{BIG}")


async def test_drops_that_are_not_about_a_message_quarantine_nothing(tmp_path: Path) -> None:
    """Two gateways configured with the same client id: Mosquitto drops each when the other
    connects, whatever was in flight. No message may be blamed for that; nothing is lost."""
    with mosquitto(tmp_path, "max_packet_size 400") as port:
        daemons = []
        for name in ("one", "two"):
            (tmp_path / name).mkdir()
            cfg = write_config(tmp_path / name / "config.toml", (
                f'[gateway]\nid = "{name}"\nshutdown_timeout = 5\n'
                f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nreconnect_delay_max = 1\n'
                'client_id = "same"\n' + simulated(name, 0.02)))
            daemons.append(LoggedDaemon(cfg, tmp_path / name / "daemon.log"))
        async with collect("127.0.0.1", port, "sensor-gateway/#") as sub:
            with daemons[0], daemons[1]:
                for daemon in daemons:
                    await daemon.wait_log("connected to")
                await asyncio.sleep(10)  # drops over time are what is tested
                assert [await d.terminate() for d in daemons] == [0, 0]
    for name, daemon in zip(("one", "two"), daemons, strict=True):
        assert "unavailable" in daemon.text()  # each was dropped by the other
        assert "not sent" not in daemon.text(), daemon.text()
        got = set(seqs(sub.on(f"sensor-gateway/{name}/{name}/temperature")))
        assert got and got == set(range(1, max(got) + 1))


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_refused_subscription_is_logged_once_and_the_session_goes_on(
    tmp_path: Path, client: str,
) -> None:
    """amqtt with a subscribe ACL answers SUBACK 0x80 for ``homeassistant/status``. Before,
    that raised and every session died (published=0, reconnects=52 in 8 s)."""
    acl = {"anonymous": ["lim/#", "homeassistant/device/#"]}
    with amqtt_broker(subscribe_acl=acl) as port:
        cfg = gateway_config(tmp_path, port, f'client = "{client}"',
                             "[homeassistant]\ndiscovery = true\n" + simulated("ok", 0.05))
        async with collect("127.0.0.1", port, "lim/gw/#") as sub:
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                await sub.wait_for(lambda: len(sub.on("lim/gw/ok/temperature")) >= 40, 30)
                await daemon.wait_log("subscription to homeassistant/status refused by the "
                                      "broker")
                assert await daemon.terminate() == 0
    log = daemon.text()
    assert log.count("subscription to homeassistant/status refused") == 1, log
    assert "check the broker's ACL" in log
    assert log.count("connected to") == 1, log
    assert "homeassistant/device/+/config refused" not in log  # the allowed one was granted


async def test_keepalive_counts_what_the_client_sends(tmp_path: Path) -> None:
    """[MQTT-3.1.2-23]: a client that receives all the time but sends nothing must still
    ping, or the broker (1.5 x keepalive without a packet from it) cuts it off."""
    with mosquitto(tmp_path) as port:
        received: list[bytes] = []
        async with lean_connect("127.0.0.1", port, client_id="ka", keepalive=2, window=10,
                                on_acked=lambda _: None,
                                on_message=lambda _t, p, _r: received.append(p)) as client:
            await client.subscribe("lim/ka", qos=1)
            supervisor = asyncio.create_task(client.supervise(), name="test-keepalive")
            async with lean_connect("127.0.0.1", port, client_id="ka-talker", keepalive=30,
                                    window=10, on_acked=lambda _: None) as talker:
                for i in range(50):  # 5 s, past 1.5 x keepalive, at QoS 0 (no PUBACK back)
                    await talker.publish("lim/ka", b"%d" % i, qos=0)
                    await asyncio.sleep(0.1)  # the talking itself is the test's load
            await until(lambda: len(received) == 50, timeout=5)
            assert not supervisor.done(), supervisor.exception()
            assert client.pings_sent >= 2
            assert client.pings_answered >= 2
            supervisor.cancel()


@pytest.mark.parametrize("client", CLIENTS)
async def test_a_wrong_password_is_one_error_naming_what_to_check(
    tmp_path: Path, client: str,
) -> None:
    passwd = password_file(tmp_path / "passwd", "gw", "right")
    (tmp_path / "pw").write_text("wrong-secret")
    with mosquitto(tmp_path, "allow_anonymous false", f"password_file {passwd}") as port:
        cfg = gateway_config(tmp_path, port,
                             f'client = "{client}"\nusername = "gw"\n'
                             f'password_file = "{tmp_path / "pw"}"',
                             simulated("ok", 0.5))
        with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
            await daemon.wait_log("ERROR")
            await daemon.wait_log("retrying", timeout=10)
            # several more attempts (backoff 0.2 s doubling, capped at 2 s) with nothing new said
            await asyncio.sleep(4)  # the absence of log lines over time is what is tested
            assert await daemon.terminate() == 0
    log = daemon.text()
    errors = [line for line in log.splitlines()
              if "gateway.publisher" in line and (" ERROR " in line or " WARNING " in line)]
    assert len(errors) == 1, log
    assert "not authori" in errors[0].lower()  # Mosquitto 2.0 answers a wrong password so
    assert "check [mqtt] username and password" in errors[0]
    assert "wrong-secret" not in log


async def test_a_connection_dropped_after_connack_backs_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker that accepts CONNECT and hangs up at once (an ACL or a limit it enforces by
    disconnecting): the CONNACK must not reset the backoff, and the drop is said once."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.read(1024)  # CONNECT
        writer.write(bytes.fromhex("20020000"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = settings_from(tmp_path, f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n'
                                       "reconnect_delay_max = 30\n")
    publisher = Publisher(settings.mqtt, TopicLayout("lim/gw"), MemoryBuffer(), "flap")
    caplog.set_level(logging.DEBUG, logger="gateway.publisher")
    async with server:
        task = asyncio.create_task(publisher.run(), name="test-publisher")
        await asyncio.sleep(5)  # counting connections over a fixed time is what is tested
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # backoff 0.2 s doubling with jitter on the top half: at most 6 attempts start in 5 s
    assert 2 <= connections <= 6, connections
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    connected = [r for r in caplog.records if r.getMessage().startswith("connected to")]
    assert [r.levelno for r in connected][:3] == [logging.INFO, logging.INFO, logging.DEBUG]


async def test_the_will_is_configurable_and_its_refusal_explained(tmp_path: Path) -> None:
    """Mosquitto ``retain_available false`` hangs up on a CONNECT with a retained will (MQTT
    3.1.1 has no CONNACK code for it); a will that is not retained is taken."""
    with mosquitto(tmp_path, "retain_available false") as port:
        will = Will("lim/will/status", b"offline", qos=1, retain=True)
        with pytest.raises(MqttRefused, match="retain_available false") as err:
            async with lean_connect("127.0.0.1", port, client_id="w1", keepalive=30,
                                    window=10, on_acked=lambda _: None, will=will):
                pass
        assert "will_retain" in str(err.value)
        async with collect("127.0.0.1", port, "lim/will/#") as sub:
            async with lean_connect("127.0.0.1", port, client_id="w2", keepalive=30,
                                    window=10, on_acked=lambda _: None,
                                    will=Will("lim/will/status", b"offline", qos=0,
                                              retain=False)) as client:
                await client.publish("lim/will/x", b"up", qos=1)
                assert client._transport is not None
                client._transport.abort()  # dies without DISCONNECT: the will goes out
            await sub.wait_for(lambda: sub.on("lim/will/status"))
        assert [(m.text, m.retain) for m in sub.on("lim/will/status")] == [("offline", False)]


async def test_the_daemon_sends_the_configured_will(tmp_path: Path) -> None:
    with mosquitto(tmp_path) as port:
        cfg = gateway_config(tmp_path, port, "will_qos = 0\nwill_retain = false",
                             simulated("ok", 0.5))
        async with collect("127.0.0.1", port, "lim/gw/status") as sub:
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                await sub.wait_for(lambda: sub.on("lim/gw/status"), 20)
                daemon.kill()  # SIGKILL: no goodbye, the broker sends the will
                await sub.wait_for(lambda: len(sub.on("lim/gw/status")) >= 2, 10)
        assert [m.text for m in sub.on("lim/gw/status")] == ["online", "offline"]
        # the will was not retained: a late subscriber still gets the retained "online"
        async with collect("127.0.0.1", port, "lim/gw/status") as late:
            await late.wait_for(lambda: late.on("lim/gw/status"), 10)
        assert [(m.text, m.retain) for m in late.on("lim/gw/status")] == [("online", True)]


async def test_send_encodes_before_it_registers(tmp_path: Path) -> None:
    """An entry that cannot be encoded (a topic over 65535 bytes) or is over the configured
    limit is handed to ``on_rejected``; the rest go, and no packet id is left in flight."""
    rejected: list[tuple[Publishable, str]] = []
    acked: list[Publishable] = []
    good = [Entry(f"lim/send/{i}", b"1", "d") for i in range(3)]
    huge_topic = Entry("lim/" + "t" * 70_000, b"1", "d")
    too_big = Entry("lim/send/big", b"x" * 600, "d")
    with mosquitto(tmp_path) as port:
        async with lean_connect("127.0.0.1", port, client_id="enc", keepalive=30, window=10,
                                on_acked=acked.extend, max_packet_size=512,
                                on_rejected=lambda e, kind, _: rejected.append((e, kind))
                                ) as client:
            client.send([good[0], huge_topic, good[1], too_big, good[2]], 1)
            await until(lambda: len(acked) == 3, timeout=5)
            assert client.inflight() == 0
    assert acked == good
    assert rejected == [(huge_topic, "unencodable"), (too_big, "too_large")]


PRODUCTION_ACL = """topic read #
user gw
topic write lim/gw/status
topic write lim/gw/stats
topic write lim/gw/ok/#
topic write lim/gw/denied/status
topic write homeassistant/#
"""  # anonymous (the test's subscriber) reads everything; gw writes where listed, reads nothing


async def test_a_broker_configured_for_production(tmp_path: Path) -> None:
    """Mosquitto with the limits a production broker has: packet and message size limits, an
    in-flight window and a queue limit, a password file and an ACL. The gateway gets in with
    its password file and its readings flow without a gap and without a single reconnect
    (Mosquitto 2.0 grants the subscription its ACL will never deliver on; amqtt refuses it,
    tested above). What the broker acknowledges and then drops (readings its ACL denies,
    discovery configs over ``message_size_limit``: MQTT 3.1.1 cannot refuse one message) is
    the PUBACK's documented limit (docs/delivery.md) and costs nothing else."""
    (tmp_path / "acl").write_text(PRODUCTION_ACL)
    passwd = password_file(tmp_path / "passwd", "gw", "s3cret")
    (tmp_path / "pw").write_text("s3cret\n")
    with mosquitto(tmp_path, "max_packet_size 8192", "message_size_limit 512",
                   "max_inflight_messages 10", "max_queued_messages 100",
                   f"acl_file {tmp_path / 'acl'}", f"password_file {passwd}") as port:
        mqtt = (f'username = "gw"\npassword_file = "{tmp_path / "pw"}"\n'
                "max_packet_size = 8192\nmax_inflight = 100")
        cfg = gateway_config(tmp_path, port, mqtt, "[homeassistant]\ndiscovery = true\n"
                             + simulated("ok", 0.02) + simulated("denied", 0.05))
        async with collect("127.0.0.1", port, "#") as sub:
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                await sub.wait_for(lambda: len(sub.on("lim/gw/ok/temperature")) >= 300, 30)
                assert await daemon.terminate() == 0
    log = daemon.text()
    assert log.count("connected to") == 1, log
    assert "unavailable" not in log and "not sent" not in log, log
    ok = set(seqs(sub.on("lim/gw/ok/temperature")))
    assert ok == set(range(1, max(ok) + 1))  # discovery's replay adds exact duplicates
    assert [m.text for m in sub.on("lim/gw/denied/status")][:1] == ["online"]
    assert not sub.on("lim/gw/denied/temperature")  # acknowledged, then dropped by the ACL
    assert not sub.under("homeassistant/")  # acknowledged, over message_size_limit


async def test_status_publishes_share_a_bounded_packet_id_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Thousands of retained messages at once (Home Assistant discovery for a large site) go
    out at most STATUS_WINDOW at a time: with the readings' window (at most MAX_WINDOW) they
    can never use up the 65535 packet identifiers. Every one of them arrives."""
    most = 0
    publish_nowait = LeanClient.publish_nowait

    def counting(self: LeanClient, topic: str, payload: bytes, *,
                 retain: bool = False) -> asyncio.Future[bytes]:
        nonlocal most
        future = publish_nowait(self, topic, payload, retain=retain)
        most = max(most, len(self._waiting))
        return future

    monkeypatch.setattr(LeanClient, "publish_nowait", counting)
    # Mosquitto queues at most 1000 messages for a subscriber by default and drops the rest
    # (after its PUBACK to us): a test subscriber slowed by a busy machine would miss some.
    with mosquitto(tmp_path, "max_queued_messages 0") as port:
        settings = settings_from(tmp_path, f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n')
        publisher = Publisher(settings.mqtt, TopicLayout("lim/ids"), MemoryBuffer(), "ids")
        for i in range(2000):
            publisher.set_retained(f"lim/ids/config/{i}", f'{{"n": {i}}}')
        async with collect("127.0.0.1", port, "lim/ids/config/#") as sub:
            task = asyncio.create_task(publisher.run(), name="test-publisher")
            try:
                await sub.wait_for(lambda: len(sub.under("lim/ids/config/")) >= 2000, 30)
                await asyncio.wait_for(publisher.flush(), 10)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    assert len({m.topic for m in sub.under("lim/ids/config/")}) == 2000
    assert 1 < most <= STATUS_WINDOW
    assert MAX_WINDOW + STATUS_WINDOW < 0xFFFF

"""The lean MQTT client against a real Mosquitto: publish, acks, will, keepalive, outages, auth, TLS.

Nothing is mocked: faults are real (SIGSTOP/SIGKILL of the broker, an aborted TCP connection).
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import re
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from support.broker import Mosquitto
from support.components import require, which
from support.mqtt import collect
from support.wait import until

from gateway.delivery.buffer import Entry
from gateway.errors import MqttConnectionLost, MqttRefused
from gateway.mqtt import client as client_module
from gateway.mqtt.client import LeanClient, Publishable, Will, lean_connect


class Acks:
    def __init__(self) -> None:
        self.entries: list[Publishable] = []

    def __call__(self, entries: list[Publishable]) -> None:
        self.entries.extend(entries)


def entries(root: str, n: int) -> list[Publishable]:
    return [Entry(f"{root}/s{i % 7}", b'{"seq":%d}' % i, "dev") for i in range(n)]


@pytest.mark.parametrize("qos", [1, 0])
async def test_publish_delivers_in_order_and_acks(mosquitto: Mosquitto, qos: int) -> None:
    root = f"lean/deliver{qos}"
    acks = Acks()
    sent = entries(root, 3000)
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with lean_connect(mosquitto.host, mosquitto.port, client_id=f"lean-{qos}",
                                keepalive=30, window=500, on_acked=acks) as client:
            rest = list(sent)
            while rest:
                room = await client.room()
                assert room <= 500
                client.send(rest[:room], qos)
                rest = rest[room:]
                assert client.inflight() <= 500
            await sub.wait_for(lambda: len(sub.messages) == len(sent), timeout=20)
            if qos:
                async with asyncio.timeout(10):
                    while len(acks.entries) < len(sent):
                        await client.room()
                        await asyncio.sleep(0.01)
                assert client.inflight() == 0
    assert sorted(map(id, acks.entries)) == sorted(map(id, sent))
    for topic in {e.topic for e in sent}:
        assert [m.payload for m in sub.on(topic)] == [e.payload for e in sent if e.topic == topic]


async def test_retained_publish_waits_for_puback(mosquitto: Mosquitto) -> None:
    async with lean_connect(mosquitto.host, mosquitto.port, client_id="lean-retain",
                            keepalive=30, window=10, on_acked=Acks()) as client:
        await client.publish("lean/retained/status", "online", qos=1, retain=True)
    async with collect(mosquitto.host, mosquitto.port, "lean/retained/#") as late:
        await late.wait_for(lambda: late.messages)
    assert (late.messages[0].text, late.messages[0].retain) == ("online", True)


async def test_no_ack_without_puback_and_keepalive_notices_a_paused_broker(
        own_mosquitto: Mosquitto) -> None:
    acks = Acks()
    async with lean_connect(own_mosquitto.host, own_mosquitto.port, client_id="lean-pause",
                            keepalive=1, window=100, on_acked=acks) as client:
        own_mosquitto.pause()
        try:
            client.send(entries("lean/pause", 20), 1)
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(MqttConnectionLost, match="no answer"):
                async with asyncio.timeout(5):
                    await client.supervise()
            assert 1.0 <= loop.time() - started <= 3.0
        finally:
            own_mosquitto.resume()
        assert acks.entries == []
        assert client.inflight() == 20
        with pytest.raises(MqttConnectionLost):
            await client.room()


async def test_idle_connection_is_kept_alive(mosquitto: Mosquitto) -> None:
    async with lean_connect(mosquitto.host, mosquitto.port, client_id="lean-idle",
                            keepalive=1, window=10, on_acked=Acks()) as client:
        supervisor = asyncio.create_task(client.supervise(), name="test-supervise")
        # Idle for > 3 keepalives: only PINGREQ/PINGRESP carry the connection.
        await until(lambda: client.pings_answered >= 4 or supervisor.done(), timeout=10)
        assert not supervisor.done()
        supervisor.cancel()
        await client.publish("lean/idle/x", b"still here", qos=1)


async def test_last_will_when_the_connection_drops(mosquitto: Mosquitto) -> None:
    will = Will("lean/will/status", b"offline", qos=1, retain=False)
    async with collect(mosquitto.host, mosquitto.port, "lean/will/#") as sub:
        async with lean_connect(mosquitto.host, mosquitto.port, client_id="lean-will",
                                keepalive=30, window=10, on_acked=Acks(), will=will) as client:
            await client.publish("lean/will/status", b"online", qos=1)
            assert client._transport is not None
            client._transport.abort()  # the TCP connection dies without DISCONNECT
            with pytest.raises(MqttConnectionLost):
                async with asyncio.timeout(5):
                    await client.supervise()
        await sub.wait_for(lambda: [m.text for m in sub.messages] == ["online", "offline"])


async def test_clean_disconnect_sends_no_will(mosquitto: Mosquitto) -> None:
    will = Will("lean/nowill/status", b"offline", qos=1, retain=False)
    async with collect(mosquitto.host, mosquitto.port, "lean/nowill/#") as sub:
        async with lean_connect(mosquitto.host, mosquitto.port, client_id="lean-nowill",
                                keepalive=30, window=10, on_acked=Acks(), will=will):
            pass
        # A marker published after the disconnect arrives; the will would have come first.
        async with lean_connect(mosquitto.host, mosquitto.port, client_id="lean-marker",
                                keepalive=30, window=10, on_acked=Acks()) as other:
            await other.publish("lean/nowill/marker", b"done", qos=1)
        await sub.wait_for(lambda: sub.on("lean/nowill/marker"))
    assert sub.on("lean/nowill/status") == []


async def test_broker_killed_then_restarted(own_mosquitto: Mosquitto) -> None:
    acks = Acks()
    async with lean_connect(own_mosquitto.host, own_mosquitto.port, client_id="lean-kill",
                            keepalive=30, window=10, on_acked=acks) as client:
        own_mosquitto.kill()
        with pytest.raises(MqttConnectionLost):
            async with asyncio.timeout(5):
                await client.supervise()
        with pytest.raises(MqttConnectionLost):
            client.send(entries("lean/kill", 1), 1)
    with pytest.raises(MqttConnectionLost, match="cannot connect"):
        async with lean_connect(own_mosquitto.host, own_mosquitto.port, client_id="lean-kill",
                                keepalive=30, window=10, on_acked=acks):
            pass
    own_mosquitto.start()
    async with lean_connect(own_mosquitto.host, own_mosquitto.port, client_id="lean-kill",
                            keepalive=30, window=10, on_acked=acks) as client:
        await client.publish("lean/kill/x", b"back", qos=1)


class ConfiguredMosquitto(Mosquitto):
    """Extra configuration lines (and ``listener`` replaced, for TLS)."""

    def __init__(self, workdir: Path, extra: list[str], listener: str | None = None) -> None:
        super().__init__(workdir)
        self.extra = extra
        self.listener = listener

    def _write_conf(self) -> Path:
        conf = super()._write_conf()
        lines = conf.read_text().splitlines()
        if self.listener is not None:
            lines[0] = self.listener.format(port=self.port)
        conf.write_text("\n".join([*lines, *self.extra]) + "\n")
        return conf


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker that only lets user ``gw`` with password ``s3cret`` in."""
    tool = which("mosquitto_passwd", "/usr/bin")
    require("mosquitto_passwd", tool is not None, "apt-get install mosquitto")
    assert tool is not None
    passwd = tmp_path / "passwd"
    subprocess.run([tool, "-b", "-c", str(passwd), "gw", "s3cret"], check=True)
    passwd.chmod(0o600)
    broker = ConfiguredMosquitto(tmp_path / "b",
                                 ["allow_anonymous false", f"password_file {passwd}"])
    with broker:
        yield broker


async def test_credentials(auth_broker: Mosquitto) -> None:
    broker = auth_broker
    with pytest.raises(MqttRefused, match=r"bad user name or password|not authorised") as err:
        async with lean_connect(broker.host, broker.port, client_id="lean-auth",
                                keepalive=30, window=10, on_acked=Acks(),
                                username="gw", password="wrong"):
            pass
    assert "wrong" not in str(err.value)
    async with lean_connect(broker.host, broker.port, client_id="lean-auth", keepalive=30,
                            window=10, on_acked=Acks(), username="gw",
                            password="s3cret") as client:
        await client.publish("lean/auth/x", b"ok", qos=1)


def _certificates(tmp: Path) -> tuple[Path, Path, Path]:
    now = datetime.datetime.now(datetime.UTC)

    def make(subject: str, issuer_key: ec.EllipticCurvePrivateKey | None,
             issuer: x509.Name | None, ca: bool) -> tuple[ec.EllipticCurvePrivateKey,
                                                         x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
        return key, builder.sign(issuer_key or key, hashes.SHA256())

    ca_key, ca_cert = make("test-ca", None, None, ca=True)
    key, cert = make("127.0.0.1", ca_key, ca_cert.subject, ca=False)
    pem = serialization.Encoding.PEM
    (tmp / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (tmp / "server.pem").write_bytes(cert.public_bytes(pem))
    (tmp / "server.key").write_bytes(key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"


async def test_tls_verifies_the_broker(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path)
    broker = ConfiguredMosquitto(tmp_path / "b", [f"certfile {cert}", f"keyfile {key}"],
                                 listener="listener {port} 127.0.0.1")
    with broker:
        trusted = ssl.create_default_context(cafile=str(ca))
        acks = Acks()
        async with lean_connect(broker.host, broker.port, client_id="lean-tls", keepalive=30,
                                window=10, on_acked=acks, tls=trusted) as client:
            client.send(entries("lean/tls", 5), 1)
            async with asyncio.timeout(5):
                while len(acks.entries) < 5:
                    await client.room()
                    await asyncio.sleep(0.01)
        with pytest.raises(MqttConnectionLost, match="CERTIFICATE_VERIFY_FAILED"):
            async with lean_connect(broker.host, broker.port, client_id="lean-tls2",
                                    keepalive=30, window=10, on_acked=acks,
                                    tls=ssl.create_default_context()):
                pass


def test_window_is_bounded_by_packet_ids() -> None:
    async def build() -> LeanClient:
        return LeanClient(30, 1_000_000, Acks())
    client = asyncio.run(build())
    assert client.window <= 65_000


async def test_subscribe_receives_retained_and_live_messages(mosquitto: Mosquitto) -> None:
    received: list[tuple[str, bytes, bool]] = []
    async with lean_connect(mosquitto.host, mosquitto.port, client_id="lean-sub-pub",
                            keepalive=30, window=10, on_acked=Acks()) as other:
        await other.publish("lean/sub/status", b"online", qos=1, retain=True)
        async with lean_connect(mosquitto.host, mosquitto.port, client_id="lean-sub",
                                keepalive=30, window=10, on_acked=Acks(),
                                on_message=lambda *m: received.append(m)) as client:
            await client.subscribe("lean/sub/#", qos=1)
            await until(lambda: received)
            await other.publish("lean/sub/status", b"offline", qos=1)  # delivered at QoS 1
            await other.publish("lean/sub/other", b"x", qos=0)
            await until(lambda: len(received) >= 3)
            await client.publish("lean/sub/done", b"", qos=1)  # the session is still healthy
    assert received[:3] == [("lean/sub/status", b"online", True),
                            ("lean/sub/status", b"offline", False),
                            ("lean/sub/other", b"x", False)]


async def test_a_broker_breaking_the_protocol_drops_the_connection() -> None:
    """A misbehaving broker cannot be made from Mosquitto: a tiny loopback server stands in.

    It accepts CONNECT, confirms one publish and then sends a malformed packet: the confirmed
    reading stays acknowledged, the connection is dropped as a protocol error.
    """

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # CONNECT
        writer.write(bytes.fromhex("20020000"))
        await reader.read(1024)  # the PUBLISH (packet id 1)
        writer.write(bytes.fromhex("40020001" "30ffffffff01"))
        await writer.drain()
        await reader.read(1024)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    acks = Acks()
    async with server:
        async with lean_connect("127.0.0.1", port, client_id="lean-bad", keepalive=30,
                                window=10, on_acked=acks) as client:
            sent = entries("lean/bad", 1)
            client.send(sent, 1)
            with pytest.raises(MqttConnectionLost, match="protocol error"):
                async with asyncio.timeout(5):
                    await client.supervise()
    assert acks.entries == sent


async def test_packet_identifiers_are_never_reused_while_in_use_and_exhaustion_ends() -> None:
    """No broker needed: the identifier allocator alone. It skips identifiers still in flight,
    wraps from 65535 to the first free one from 1 (0 is not a valid identifier), and with all 65535 in use gives up the
    connection instead of looping forever (#14)."""
    client = LeanClient(keepalive=30, window=10, on_acked=lambda _: None)
    client._inflight = dict.fromkeys((1, 2, 4))  # type: ignore[assignment]
    assert [client._new_id() for _ in range(2)] == [3, 5]
    client._next_id = 0xFFFE
    assert [client._new_id() for _ in range(2)] == [0xFFFF, 3]
    client._inflight = dict.fromkeys(range(1, 0x10000))  # type: ignore[assignment]
    with pytest.raises(MqttConnectionLost, match="packet identifiers"):
        client._new_id()


async def fake_broker_session(answer: str, then: str = "") -> tuple[list[Publishable], str]:
    """A broker that cannot be made from Mosquitto: a loopback server answers CONNECT with the
    hex bytes ``answer``; if the client connects, it sends one reading and the server answers
    ``then`` and a PUBACK for it. Returns what was acked and how the session ended."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # CONNECT
        writer.write(bytes.fromhex(answer))
        await writer.drain()
        if await reader.read(1024):  # the reading (packet id 1)
            writer.write(bytes.fromhex(then + "40020001"))
            await writer.drain()
            await reader.read(1024)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    acks = Acks()
    async with server:
        try:
            async with lean_connect("127.0.0.1", port, client_id="lean-in", keepalive=30,
                                    window=10, on_acked=acks) as client:
                client.send(entries("lean/in", 1), 1)
                await until(lambda: bool(acks.entries) or client._dead.is_set(), timeout=5)
                await client.publish("lean/in/x", b"", qos=0)  # raises if it was dropped
                return acks.entries, "ok"
        except MqttConnectionLost as exc:
            return acks.entries, str(exc)


@pytest.mark.parametrize(("answer", "then", "error"), [
    ("20020100", "", "Session Present on a clean session"),
    ("21020000", "", r"CONNACK with reserved flags 0x1 \[MQTT-2.2.2-2\]"),
    ("3005000174" "6869" "20020000", "", r"PUBLISH before CONNACK \[MQTT-3.2.0-1\]"),
    ("20020000", "41020001", "PUBACK with reserved flags 0x1"),
    ("20020000", "c000", "PINGREQ from the broker: only a client sends it"),
    ("20020000", "3805000174" "6869", r"DUP set at QoS 0 \[MQTT-3.3.1-2\]"),
    ("20020000", "e000", "DISCONNECT from the broker: only a client sends it"),  # 3.1.1
    ("20020000" "20020000", "", "a second CONNACK"),
])
async def test_what_the_specification_forbids_a_broker_drops_the_connection(
    answer: str, then: str, error: str,
) -> None:
    acked, ended = await fake_broker_session(answer, then)
    assert re.search(f"protocol error from the broker: .*{error}", ended), ended
    assert acked == []


async def test_what_is_merely_unexpected_is_ignored_and_said_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """UNSUBACK and the QoS 2 packets answer nothing the gateway asks for: harmless."""
    monkeypatch.setattr(client_module, "_noted", set())  # "once" is once per process
    for _ in range(2):
        acked, ended = await fake_broker_session("20020000", "b0020007" "50020009")
        assert ended == "ok"
        assert len(acked) == 1
    said = [r.getMessage() for r in caplog.records if "ignored a" in r.getMessage()]
    assert said == ["ignored a UNSUBACK from the broker: the gateway never asks for one "
                    "(logged once)", "ignored a PUBREC from the broker: the gateway never "
                    "asks for one (logged once)"]

"""Faults injected for real: a real Mosquitto (persistence on, max_queued_messages raised) that is
stopped, restarted and SIGSTOPped; the real daemon process, SIGKILLed; a scribbled outbox file.
Every check counts ``seq`` at a subscriber with a persistent session. After a graceful stop the
outbox file's ``seqs`` table says exactly how many readings each topic produced."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from pathlib import Path

import pytest
from support.broker import Mosquitto
from support.daemon import base_config, simulated, write_config
from support.faults import LoggedDaemon, SeqSubscriber, check_seqs, outbox_rows, outbox_seqs

COMMIT_INTERVAL = 0.1


def config(tmp_path: Path, port: int, gateway_id: str, devices: str, *,
           buffer: str = "", mqtt: str = "") -> Path:
    text = base_config(port, gateway_id, mqtt) + (
        f'[buffer]\npath = "{tmp_path / "outbox.db"}"\ncommit_interval = {COMMIT_INTERVAL}\n'
        f"{buffer}\n") + devices
    return write_config(tmp_path / "config.toml", text)


async def all_delivered(sub: SeqSubscriber, produced: dict[str, int]) -> None:
    for topic, n in produced.items():

        def complete(t: str = topic, n: int = n) -> bool:
            return set(range(1, n + 1)) <= set(sub.seqs.get(t, []))

        await sub.wait_for(complete)


def dropped(log: str) -> dict[str, int]:
    match = re.search(r"outbox: \d+ readings dropped this run \((.*)\)", log)
    if match is None:
        return {}
    return {d: int(n) for d, n in (part.split(": ") for part in match[1].split(", "))}


def stamp(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


CLIENTS = ["lean", "aiomqtt"]  # both data paths behind the one session interface


@pytest.mark.parametrize("client", CLIENTS)
async def test_1_broker_restart_at_200_per_second_loses_nothing(
    tmp_path: Path, client: str,
) -> None:
    broker = Mosquitto(tmp_path / "broker", persistence=True)
    root = "sensor-gateway/f1"
    cfg = config(tmp_path, broker.port, "f1", simulated("fast", 0.01, '["temperature", "humidity"]'),
                 mqtt=f'client = "{client}"')
    topic = f"{root}/fast/temperature"
    with broker:
        async with SeqSubscriber(broker.host, broker.port, f"{root}/+/+", "f1-sub") as sub:
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                await sub.wait_for(lambda: sub.count(topic) >= 100)
                broker.stop()
                await asyncio.sleep(3)  # the fault itself: the broker is away for 3 s
                at_restart = sub.max_seq(topic)
                broker.start()
                await sub.wait_for(lambda: sub.max_seq(topic) >= at_restart + 400)
                assert await daemon.terminate() == 0
            produced = outbox_seqs(tmp_path / "outbox.db")
            assert outbox_rows(tmp_path / "outbox.db") == 0  # all delivered, all deleted
            assert set(produced) == {topic, f"{root}/fast/humidity"}
            await all_delivered(sub, produced)
    for t, n in produced.items():
        assert check_seqs(sub.seqs[t], n) | {"duplicates": 0} == {
            "lost": 0, "duplicates": 0, "in_order": 1}, t


@pytest.mark.parametrize("client", CLIENTS)
async def test_2_sigkill_while_broker_down_then_restart(tmp_path: Path, client: str) -> None:
    broker = Mosquitto(tmp_path / "broker", persistence=True)
    root = "sensor-gateway/f2"
    cfg = config(tmp_path, broker.port, "f2", simulated("k", 0.01), mqtt=f'client = "{client}"')
    topic = f"{root}/k/temperature"
    with broker:
        async with SeqSubscriber(broker.host, broker.port, f"{root}/+/+", "f2-sub") as sub:
            first = LoggedDaemon(cfg, tmp_path / "daemon.log").start()
            await sub.wait_for(lambda: sub.count(topic) >= 50)
            broker.stop()
            await asyncio.sleep(2)  # the fault: ~200 readings go to the outbox only
            killed_at = time.time()
            first.kill()  # SIGKILL: no flush, no final commit
            broker.start()
            restarted_at = time.time()
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as second:
                await second.wait_log("undelivered readings from the last run")
                assert "was not closed cleanly" in second.text()
                await sub.wait_for(lambda: any(stamp(ts) > restarted_at + 1
                                               for ts in sub.stamps.get(topic, [])[-5:]))
                assert await second.terminate() == 0
            produced = outbox_seqs(tmp_path / "outbox.db")[topic]
            await all_delivered(sub, {topic: produced})
    result = check_seqs(sub.seqs[topic], produced)
    assert result["lost"] == 0 and result["in_order"] == 1  # seq continued, no gap
    first_run = [stamp(ts) for ts in sub.stamps[topic] if stamp(ts) < killed_at]
    # Everything read up to the last commit interval before the kill was delivered (0.5 s of
    # margin for scheduling on a loaded machine); it includes the ~2 s the broker was away.
    assert max(first_run) >= killed_at - COMMIT_INTERVAL - 0.5
    assert sum(1 for t in first_run if t > killed_at - 2) > 100


@pytest.mark.parametrize("client", CLIENTS)
async def test_3_sigstopped_broker_then_sigcont(tmp_path: Path, client: str) -> None:
    broker = Mosquitto(tmp_path / "broker", persistence=True)
    root = "sensor-gateway/f3"
    keepalive = 5
    cfg = config(tmp_path, broker.port, "f3", simulated("s", 0.01, '["temperature", "humidity"]'),
                 mqtt=f'keepalive = {keepalive}\nclient = "{client}"')
    topic = f"{root}/s/temperature"
    with broker:
        async with SeqSubscriber(broker.host, broker.port, f"{root}/+/+", "f3-sub") as sub:
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                await sub.wait_for(lambda: sub.count(topic) >= 100)
                rss_before = daemon.rss_kib()
                broker.pause()  # accepts connections (kernel backlog) but reads nothing
                paused_at = time.monotonic()
                # Half-open connection: the keepalive notices it (~1.5 x keepalive).
                await daemon.wait_log("unavailable", timeout=1.5 * keepalive + 2)
                detected_after = time.monotonic() - paused_at
                rss_paused = daemon.rss_kib()
                broker.resume()
                at_resume = sub.max_seq(topic)
                await sub.wait_for(lambda: sub.max_seq(topic) >= at_resume + 300, timeout=40)
                assert await daemon.terminate() == 0
            produced = outbox_seqs(tmp_path / "outbox.db")
            await all_delivered(sub, produced)
    print(f"half-open detected after {detected_after:.1f}s (keepalive {keepalive}s); "
          f"RSS {rss_before} -> {rss_paused} KiB")
    for t, n in produced.items():
        result = check_seqs(sub.seqs[t], n)
        assert result["lost"] == 0, t
    assert rss_paused - rss_before < 30_000  # bounded: no growth beyond the buffered readings


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
async def test_4_outbox_bounds_follow_the_policy_exactly(tmp_path: Path, policy: str) -> None:
    broker = Mosquitto(tmp_path / "broker", persistence=True)
    root = f"sensor-gateway/f4{policy}"
    with broker:  # register the persistent subscription, then take the broker away
        async with SeqSubscriber(broker.host, broker.port, f"{root}/+/+", f"f4{policy}"):
            pass
    device = simulated("b", 0.005, extra="stall_timeout = 600\n[devices.faults]\nhang_after = 500")
    cfg = config(tmp_path, broker.port, f"f4{policy}", device,
                 buffer=f'max_readings = 200\noverflow = "{policy}"')
    topic = f"{root}/b/temperature"
    with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
        await daemon.wait_log("[b] offline: no reading")  # all 500 read, broker still away
        with broker:
            async with SeqSubscriber(broker.host, broker.port, f"{root}/#",
                                     f"f4{policy}") as sub:
                await sub.wait_for(lambda: sub.count(topic) >= 200)
                assert await daemon.terminate() == 0
                assert outbox_seqs(tmp_path / "outbox.db") == {topic: 500}
                # The gateway's "offline" goes out after the flush: nothing else follows.
                await sub.wait_for(lambda: sub.texts.get(f"{root}/status", [""])[-1] == "offline")
    got = sorted(set(sub.seqs[topic]))
    assert got == (list(range(301, 501)) if policy == "drop_oldest" else list(range(1, 201)))
    assert dropped(daemon.text()) == {"b": 300}  # the counter matches the gap exactly
    assert "outbox full: dropped" in daemon.text()  # and it was logged when it happened


async def test_5_corrupt_outbox_at_start_is_moved_aside(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    root = "sensor-gateway/f5"
    garbage = b"\x13\x37 not a database " * 1000
    (tmp_path / "outbox.db").write_bytes(garbage)
    cfg = config(tmp_path, broker.port, "f5", simulated("c", 0.02))
    with broker:
        async with SeqSubscriber(broker.host, broker.port, f"{root}/+/+", "f5-sub") as sub:
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                await sub.wait_for(lambda: sub.count(f"{root}/c/temperature") >= 20)
                assert await daemon.terminate() == 0
    aside = list(tmp_path.glob("outbox.db.corrupt-*"))  # noqa: ASYNC240 - after the run
    assert [p.read_bytes() for p in aside if not p.name.endswith(("-wal", "-shm"))] == [garbage]
    assert "moved aside" in daemon.text()
    assert sub.seqs[f"{root}/c/temperature"][:20] == list(range(1, 21))


async def test_6_flooding_device_causes_no_loss_for_a_calm_one(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker", persistence=True)
    root = "sensor-gateway/f6"
    flood_sensors = "[" + ", ".join(
        f'{{name = "s{i}", profile = "temperature"}}' for i in range(10)) + "]"
    devices = simulated("calm", 0.05) + simulated("flood", 0.001, flood_sensors)
    cfg = config(tmp_path, broker.port, "f6", devices, buffer="max_readings = 2000")
    topic = f"{root}/calm/temperature"
    with broker:
        async with SeqSubscriber(broker.host, broker.port, f"{root}/calm/+", "f6-sub") as sub:
            with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                await sub.wait_for(lambda: sub.count(topic) >= 20)
                broker.stop()
                await asyncio.sleep(3)  # the fault: the flood fills the outbox meanwhile
                at_restart = sub.max_seq(topic)
                broker.start()
                await sub.wait_for(lambda: sub.max_seq(topic) >= at_restart + 100, timeout=40)
                assert await daemon.terminate() == 0
            produced = outbox_seqs(tmp_path / "outbox.db")[topic]
            await all_delivered(sub, {topic: produced})
    assert check_seqs(sub.seqs[topic], produced)["lost"] == 0
    drops = dropped(daemon.text())
    assert drops.get("flood", 0) > 0 and "calm" not in drops  # the bound was hit: by the flood

"""The gateway as a Sparkplug B edge node, seen by an independent primary host (pysparkplug,
tests/sparkplug/host_app.py) through a real Mosquitto, with a real daemon process.

What is checked comes from the Eclipse Sparkplug 3.0 specification: births before data, NBIRTH
``seq`` 0 and ``seq`` 0..255 over every message of the node, ``bdSeq`` in NBIRTH and its NDEATH
(the will, and published on a clean stop), DDATA by alias, rebirth on NCMD, DDEATH, and the
primary host's STATE gating what is sent (historical flag for what waited)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from support.broker import Mosquitto
from support.daemon import write_config
from support.faults import LoggedDaemon, outbox_seqs
from support.sparkplug import SparkplugHost

GROUP, NODE, HOST = "plant", "edge1", "scada"


def sparkplug_config(tmp_path: Path, port: int, host: bool = True, client: str = "lean") -> Path:
    primary = f'primary_host_id = "{HOST}"\n' if host else ""
    return write_config(tmp_path / "config.toml", (
        f'[gateway]\nid = "gw"\nshutdown_timeout = 10\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nreconnect_delay_max = 0.5\n'
        f'client = "{client}"\n'
        f'[buffer]\npath = "{tmp_path / "outbox.db"}"\ncommit_interval = 0.05\n'
        f'[sparkplug]\nenabled = true\ngroup_id = "{GROUP}"\nedge_node_id = "{NODE}"\n'
        f"{primary}"
        '[[devices]]\nid = "d1"\ndriver = "simulated"\ninterval = 0.1\nseed = 1\n'
        'sensors = ["temperature", "humidity"]\n'
        '[[devices]]\nid = "d2"\ndriver = "simulated"\ninterval = 0.01\nseed = 2\n'
        'sensors = ["temperature"]\n'))


def node_messages(host: SparkplugHost) -> list[dict[str, Any]]:
    """Everything the node sent but its will/NDEATH, in arrival order."""
    return [m for m in host.messages
            if m.get("node") == NODE and m.get("type") not in (None, "NDEATH", "NCMD", "DCMD")]


def check_seqs(messages: list[dict[str, Any]]) -> None:
    """NBIRTH is seq 0; every later message of the node is the previous seq + 1, mod 256."""
    assert messages[0]["type"] == "NBIRTH"
    for before, after in itertools.pairwise(messages):
        if after["type"] == "NBIRTH":
            assert after["seq"] == 0
        else:
            assert after["seq"] == (before["seq"] + 1) % 256, (before, after)


def metric_names(message: dict[str, Any]) -> set[str]:
    return {m["name"] for m in message["metrics"]}


@pytest.mark.parametrize("client", ["lean", "aiomqtt"])
async def test_a_scada_host_sees_a_proper_edge_node(tmp_path: Path, client: str) -> None:
    broker = Mosquitto(tmp_path / "broker")
    config = sparkplug_config(tmp_path, broker.port, client=client)
    with broker:
        async with SparkplugHost(broker.port, GROUP, HOST) as host:
            await host.command("online")
            with LoggedDaemon(config, tmp_path / "d.log") as d:
                births = await host.wait_for(lambda m: m.get("type") == "NBIRTH")
                metrics = {m["name"]: m for m in births[0]["metrics"]}
                assert births[0]["seq"] == 0
                assert metrics["bdSeq"]["datatype"] == 4  # Int64
                assert metrics["Node Control/Rebirth"] == {**metrics["Node Control/Rebirth"],
                                                           "value": False, "datatype": 11}
                bd_seq = metrics["bdSeq"]["value"]
                d1 = (await host.wait_for(lambda m: m.get("type") == "DBIRTH"
                                          and m["device"] == "d1"))[0]
                assert metric_names(d1) == {"temperature", "humidity"}
                assert {m["datatype"] for m in d1["metrics"]} == {10}  # Double
                assert d1["units"] == {"temperature": "°C", "humidity": "%"}
                # 20 DDATA of d1: pysparkplug resolves the aliases through the DBIRTH
                data = await host.wait_for(lambda m: m.get("type") == "DDATA"
                                           and m["device"] == "d1", count=20)
                assert all(metric_names(m) <= {"temperature", "humidity"} for m in data)
                # historical: taken before the NBIRTH (the daemon starts before STATE arrives)
                born = births[0]["timestamp"]
                assert all(v["historical"] == (v["timestamp"] < born)
                           for m in data for v in m["metrics"])
                assert not data[-1]["metrics"][0]["historical"]
                aliases = [m["alias"] for b in host.of("DBIRTH") for m in b["metrics"]]
                assert len(aliases) == len(set(aliases))  # unique across the node

                await host.command(f"rebirth {NODE}")  # NCMD Node Control/Rebirth
                await host.wait_for(lambda m: m.get("type") == "NBIRTH", count=2)
                await host.wait_for(lambda m: m.get("type") == "DBIRTH", count=4)
                rebirth = host.of("NBIRTH")[1]
                assert {m["name"]: m["value"] for m in rebirth["metrics"]}["bdSeq"] == bd_seq
                await host.wait_for(lambda m: m.get("type") == "DDATA", count=300)
                assert await d.terminate() == 0
            deaths = await host.wait_for(lambda m: m.get("type") == "NDEATH")
            assert deaths[0]["bdSeq"] == bd_seq  # the clean stop's NDEATH
            check_seqs(node_messages(host))
            assert len(node_messages(host)) > 256  # seq wrapped at least once


async def test_the_will_is_ndeath_with_the_births_bdseq(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    with broker:
        async with SparkplugHost(broker.port, GROUP, HOST) as host:
            with LoggedDaemon(sparkplug_config(tmp_path, broker.port, host=False),
                              tmp_path / "d.log") as daemon:
                births = await host.wait_for(lambda m: m.get("type") == "NBIRTH")
                bd_seq = {m["name"]: m["value"] for m in births[0]["metrics"]}["bdSeq"]
                await host.wait_for(lambda m: m.get("type") == "DDATA")
                daemon.kill()  # no clean stop: the broker publishes the will
                deaths = await host.wait_for(lambda m: m.get("type") == "NDEATH")
                assert deaths[0]["bdSeq"] == bd_seq


async def test_readings_wait_for_the_primary_host_and_go_out_historical(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    with broker:
        async with SparkplugHost(broker.port, GROUP, HOST) as host:
            await host.command("offline")
            with LoggedDaemon(sparkplug_config(tmp_path, broker.port), tmp_path / "d.log") as d:
                await d.wait_log(f"connected to 127.0.0.1:{broker.port}")
                await asyncio.sleep(2)  # readings taken while the host is offline: fixed time
                assert not node_messages(host)  # no birth, no data while the host is offline
                await host.command("online")
                births = await host.wait_for(lambda m: m.get("type") == "NBIRTH")
                data = await host.wait_for(lambda m: m.get("type") == "DDATA", count=30)
                values = [v for m in data for v in m["metrics"]]
                historical = [v for v in values if v["historical"]]
                assert len(historical) >= 50  # ~2 s of d1 (10 Hz) and d2 (100 Hz) waited
                assert all(v["timestamp"] < births[0]["timestamp"] for v in historical)
                live = [v for v in values if not v["historical"]]
                assert live and all(v["timestamp"] >= births[0]["timestamp"] for v in live)

                before = len(host.of("DDATA"))
                await host.command("offline")  # the node ends its session: NDEATH
                deaths = await host.wait_for(lambda m: m.get("type") == "NDEATH")
                first = {m["name"]: m["value"] for m in births[0]["metrics"]}["bdSeq"]
                assert deaths[0]["bdSeq"] == first
                await asyncio.sleep(1)  # offline again: readings wait (fixed time)
                await host.command("online")
                births = await host.wait_for(lambda m: m.get("type") == "NBIRTH", count=2)
                second = {m["name"]: m["value"] for m in births[1]["metrics"]}["bdSeq"]
                assert second == (first + 1) % 256  # a new session, a new bdSeq
                await host.wait_for(lambda m: m.get("type") == "DDATA", count=before + 30)
                assert await d.terminate() == 0
            await host.wait_for(lambda m: m.get("type") == "NDEATH", count=2)
        # nothing lost: every reading the daemon committed reached the host, once at least
        made = outbox_seqs(tmp_path / "outbox.db")
        for device, sensor in (("d1", "temperature"), ("d1", "humidity"), ("d2", "temperature")):
            stamps = {v["timestamp"] for m in host.of("DDATA") if m["device"] == device
                      for v in m["metrics"] if v["name"] == sensor}
            assert len(stamps) == made[f"sensor-gateway/gw/{device}/{sensor}"], (device, sensor)


async def test_a_device_that_goes_offline_gets_a_ddeath_and_is_born_again(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    config = sparkplug_config(tmp_path, broker.port, host=False)
    config.write_text(config.read_text() + (  # its driver fails every 10th reading
        '[[devices]]\nid = "flaky"\ndriver = "simulated"\ninterval = 0.05\nseed = 3\n'
        'sensors = ["temperature"]\nfaults = { raise_every = 10 }\n'))
    with broker:
        async with SparkplugHost(broker.port, GROUP, HOST) as host:
            with LoggedDaemon(config, tmp_path / "d.log"):
                def flaky(kind: str) -> Any:
                    return lambda m: m.get("type") == kind and m.get("device") == "flaky"

                await host.wait_for(flaky("DDEATH"), timeout=30)
                await host.wait_for(flaky("DBIRTH"), count=2, timeout=30)
                await host.wait_for(flaky("DDEATH"), count=2, timeout=30)
            check_seqs(node_messages(host))
            # after a DDEATH, the device's next message is its DBIRTH, before any DDATA
            mine = [m["type"] for m in host.messages if m.get("device") == "flaky"]
            for before, after in itertools.pairwise(mine):
                if before == "DDEATH":
                    assert after == "DBIRTH", mine


async def test_a_stop_while_the_host_is_offline_keeps_the_readings(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker")
    with broker:
        async with SparkplugHost(broker.port, GROUP, HOST) as host:
            await host.command("offline")
            with LoggedDaemon(sparkplug_config(tmp_path, broker.port), tmp_path / "d.log") as d:
                await d.wait_log(f"connected to 127.0.0.1:{broker.port}")
                await asyncio.sleep(1)  # readings taken while the host is offline: fixed time
                assert await d.terminate() == 0
            assert "readings not delivered within" in d.text()
            assert "(kept in the outbox)" in d.text()
            assert not node_messages(host)
    made = sum(outbox_seqs(tmp_path / "outbox.db").values())
    with contextlib.closing(sqlite3.connect(tmp_path / "outbox.db")) as db:
        kept = db.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
    assert made >= 20 and kept == made  # every reading waits for the host's return

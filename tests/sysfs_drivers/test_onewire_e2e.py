"""``driver = "onewire"`` end to end: a sysfs tree laid out as the kernel lays it out
(support/sysfs.py) -> the daemon -> a real Mosquitto.

Every bad read of the issue is injected for real into one probe's file while a second probe
keeps publishing: nothing of the good probe is lost, the bad values are counted by kind and
never published, and the bad probe resumes by itself once its file is good again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from support.broker import Mosquitto
from support.daemon import base_config, write_config
from support.faults import LoggedDaemon
from support.inproc import running, settings_from
from support.mqtt import Collector, collect
from support.sysfs import (
    SlowFile,
    Sysfs,
    ds18b20_scratchpad,
    eio,
    enodev,
    enxio,
    w1_slave_text,
)

GOOD = "28-0316a2790fff"
BAD = "28-0416a2790aaa"


def onewire(root: Path, device_id: str = "ow", interval: float = 0.2, extra: str = "") -> str:
    return (f'[[devices]]\nid = "{device_id}"\ndriver = "onewire"\nroot = "{root}"\n'
            f"interval = {interval}\n{extra}\n")


def values(sub: Collector, topic: str) -> list[float]:
    return [m.json["value"] for m in sub.on(topic)]


def seqs_contiguous(sub: Collector, topic: str) -> bool:
    seqs = [m.json["seq"] for m in sub.on(topic)]
    return seqs == list(range(1, len(seqs) + 1))


def stamp(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


async def test_probes_named_and_read_as_the_kernel_shows_them(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    """``temperature`` where the kernel has it, ``w1_slave`` where not (before 5.9); named by
    ``sensors``, by address without it; two buses."""
    sysfs = Sysfs(tmp_path / "sys")
    sysfs.w1_probe(GOOD, 21_500)
    sysfs.w1_probe(BAD, -10_125, temperature_file=False)
    sysfs.w1_probe("3b-000000123456", 23_125, bus=2)
    root = "sensor-gateway/ow1"
    text = (base_config(mosquitto.port, "ow1") + onewire(sysfs.root, "named", extra=(
        f'sensors = {{ "{GOOD}" = "boiler", "{BAD}" = "outside" }}'))
        + onewire(sysfs.root, "all"))
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            topics = [f"{root}/named/boiler", f"{root}/named/outside", f"{root}/all/{GOOD}",
                      f"{root}/all/{BAD}", f"{root}/all/3b-000000123456"]
            await sub.wait_for(lambda: all(len(sub.on(t)) >= 3 for t in topics))
            assert not any(d.errors for d in gateway.devices.values())
            assert [m.text for m in sub.on(f"{root}/named/status")] == ["online"]
    assert set(values(sub, f"{root}/named/boiler")) == {21.5}
    assert set(values(sub, f"{root}/named/outside")) == {-10.125}
    assert set(values(sub, f"{root}/all/3b-000000123456")) == {23.125}
    assert {m.json["unit"] for t in topics for m in sub.on(t)} == {"°C"}
    assert not sub.on(f"{root}/named/3b-000000123456"), "sensors = {...} reads only those"


def write(path: Path, text: str) -> None:
    path.unlink()
    path.write_text(text)


def remove(directory: Path, *names: str) -> None:
    for name in names:
        (directory / name).unlink()


BAD_READS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "crc": ("crc", lambda d: write(d / "w1_slave", w1_slave_text(ds18b20_scratchpad(21_500),
                                                                 crc_ok=False))),
    "empty": ("empty", lambda d: write(d / "temperature", "")),
    "unparsable": ("unparsable", lambda d: write(d / "temperature", "t=21.5\n")),
    "minus_127": ("out_of_range", lambda d: write(d / "temperature", "-127000\n")),
    "enoent": ("gone", lambda d: remove(d, "temperature", "w1_slave")),
    "enodev": ("gone", lambda d: enodev(d / "temperature")),
    "eio": ("gone", lambda d: eio(d / "temperature")),
    "enxio": ("gone", lambda d: SOCKETS.append(enxio(d / "temperature"))),
}
SOCKETS: list[socket.socket] = []  # the enxio case's socket, open while the fault lasts


@pytest.mark.parametrize("case", list(BAD_READS))
async def test_bad_read_is_counted_never_published_and_loses_nothing_else(
    case: str, tmp_path: Path, mosquitto: Mosquitto
) -> None:
    kind, inject = BAD_READS[case]
    sysfs = Sysfs(tmp_path / "sys")
    sysfs.w1_probe(GOOD, 21_500)
    sysfs.w1_probe(BAD, 19_000, temperature_file=case != "crc")
    root = f"sensor-gateway/owbad-{case}"
    text = base_config(mosquitto.port, f"owbad-{case}") + onewire(sysfs.root)
    good, bad = f"{root}/ow/{GOOD}", f"{root}/ow/{BAD}"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            device = gateway.devices["ow"]
            await sub.wait_for(lambda: len(sub.on(bad)) >= 2)
            inject(sysfs.w1_dir(BAD))
            await sub.wait_for(lambda: device.errors[kind] >= 3, timeout=10)
            during = len(sub.on(good))
            await sub.wait_for(lambda: len(sub.on(good)) >= during + 3)
            sysfs.w1_set(BAD, 20_000, temperature_file=case != "crc")  # the probe is well again
            await sub.wait_for(lambda: 20.0 in values(sub, bad), timeout=10)
            assert set(device.errors) == {kind}, device.errors
            assert [m.text for m in sub.on(f"{root}/ow/status")] == ["online"], (
                "one probe answering keeps the device online")
    while SOCKETS:
        SOCKETS.pop().close()
    assert set(values(sub, bad)) == {19.0, 20.0}, "no bad value was published"
    assert set(values(sub, good)) == {21.5}
    assert seqs_contiguous(sub, good) and seqs_contiguous(sub, bad)


async def test_power_on_value_needs_a_second_read(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """85 °C then 20 °C: the 85 is counted (power_on) and skipped, the second read published.
    85 °C twice: a real 85 °C, published."""
    sysfs = Sysfs(tmp_path / "sys")
    sysfs.w1_probe(GOOD, 21_500)
    sysfs.w1_probe(BAD, 19_000)
    root = "sensor-gateway/owpower"
    text = base_config(mosquitto.port, "owpower") + onewire(sysfs.root)
    bad = f"{root}/ow/{BAD}"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            device = gateway.devices["ow"]
            await sub.wait_for(lambda: len(sub.on(bad)) >= 2)
            with SlowFile(sysfs.w1_dir(BAD) / "temperature", ["85000\n", "20000\n"], 0) as fifo:
                await sub.wait_for(lambda: 20.0 in values(sub, bad), timeout=10)
                assert len(fifo.answered) >= 2
            assert device.errors == {"power_on": 1}
            sysfs.w1_set(BAD, 85_000)
            await sub.wait_for(lambda: 85.0 in values(sub, bad), timeout=10)
            assert device.errors == {"power_on": 1}, "a confirmed 85 °C is not an error"
    published = values(sub, bad)
    assert published.index(20.0) < published.index(85.0)
    assert published.count(85.0) == len(published) - published.index(85.0)


async def test_offline_only_when_no_probe_answers_and_back_by_itself(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    sysfs = Sysfs(tmp_path / "sys")
    sysfs.w1_probe(GOOD, 21_500)
    sysfs.w1_probe(BAD, 19_000, bus=2)
    root = "sensor-gateway/owgone"
    text = base_config(mosquitto.port, "owgone") + onewire(sysfs.root, extra=(
        f'sensors = {{ "{GOOD}" = "a", "{BAD}" = "b" }}'))
    status = f"{root}/ow/status"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            device = gateway.devices["ow"]
            await sub.wait_for(lambda: len(sub.on(f"{root}/ow/b")) >= 2)
            sysfs.w1_remove(BAD)
            before = len(sub.on(f"{root}/ow/a"))
            await sub.wait_for(lambda: len(sub.on(f"{root}/ow/a")) >= before + 5)
            assert [m.text for m in sub.on(status)] == ["online"]
            sysfs.w1_remove(GOOD)
            await sub.wait_for(lambda: sub.on(status)[-1].text == "offline", timeout=5)
            sysfs.w1_probe(BAD, 18_000, bus=2)
            await sub.wait_for(lambda: 18.0 in values(sub, f"{root}/ow/b"), timeout=5)
            await sub.wait_for(lambda: sub.on(status)[-1].text == "online", timeout=5)
            sysfs.w1_probe(GOOD, 22_000)
            await sub.wait_for(lambda: 22.0 in values(sub, f"{root}/ow/a"), timeout=5)
            assert device.errors["gone"] >= 3
            assert set(device.errors) == {"gone"}
            assert [m.text for m in sub.on(status)] == ["online", "offline", "online"]
    assert seqs_contiguous(sub, f"{root}/ow/a") and seqs_contiguous(sub, f"{root}/ow/b")


async def test_no_thermometer_at_all_is_offline_with_the_reason(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    sysfs = Sysfs(tmp_path / "sys")  # no w1 master: dtoverlay=w1-gpio missing
    root = "sensor-gateway/ownone"
    text = base_config(mosquitto.port, "ownone") + onewire(sysfs.root)
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: sub.on(f"{root}/ow/status"))
            assert sub.on(f"{root}/ow/status")[-1].text == "offline"
            sysfs.w1_probe(GOOD, 21_500)  # the overlay is added and the probe found
            await sub.wait_for(lambda: sub.on(f"{root}/ow/{GOOD}"), timeout=5)
            assert gateway.devices["ow"].online


async def test_one_bus_is_read_one_probe_at_a_time(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Two slow probes on one bus: the second's read starts only after the first's answered;
    a probe on another bus is read meanwhile."""
    sysfs = Sysfs(tmp_path / "sys")
    for address in ("28-00000000000a", "28-00000000000b"):
        sysfs.w1_probe(address, 21_500)
    sysfs.w1_probe("28-00000000000c", 21_500, bus=2)
    root = "sensor-gateway/owbus"
    text = base_config(mosquitto.port, "owbus") + onewire(sysfs.root, interval=0.5)
    first = SlowFile(sysfs.w1_dir("28-00000000000a") / "temperature", "21000\n", 0.5)
    second = SlowFile(sysfs.w1_dir("28-00000000000b") / "temperature", "22000\n", 0.5)
    other = SlowFile(sysfs.w1_dir("28-00000000000c") / "temperature", "23000\n", 0.5)
    with first, second, other:
        async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
            async with running(settings_from(tmp_path, text)):
                await sub.wait_for(lambda: len(sub.on(f"{root}/ow/28-00000000000b")) >= 3,
                                   timeout=15)
        reads = sorted([(t, "a", "open") for t in first.opened]
                       + [(t, "a", "done") for t in first.answered]
                       + [(t, "b", "open") for t in second.opened]
                       + [(t, "b", "done") for t in second.answered])
    bus1 = [(probe, what) for _, probe, what in reads]
    for i in range(0, len(bus1) - 1, 2):  # open/done pairs, never two opens in a row
        assert bus1[i][1] == "open" and bus1[i + 1] == (bus1[i][0], "done"), bus1
    busy = list(zip(first.opened, first.answered, strict=False))
    side_by_side = [(oc, dc) for oc, dc in zip(other.opened, other.answered, strict=False)
                    if any(oc < da and oa < dc for oa, da in busy)]
    assert side_by_side, "bus 2 is read while bus 1 is busy"


async def test_slow_1wire_read_does_not_delay_another_device(tmp_path: Path) -> None:
    """The issue's proof, with the daemon as a real process and a real Mosquitto: a w1 file that
    answers only after 1.5 s (a FIFO) while another device's 1 s readings keep their cadence."""
    broker = Mosquitto(tmp_path / "broker")
    sysfs = Sysfs(tmp_path / "sys")
    sysfs.w1_probe("28-00000000000a", 21_500)
    sysfs.w1_probe("28-00000000000f", 22_500, bus=2)
    root = "sensor-gateway/owfifo"
    with broker:
        cfg = write_config(tmp_path / "config.toml", (
            base_config(broker.port, "owfifo").replace("shutdown_timeout = 5\n", "shutdown_timeout = 5\nstats_interval = 1\n")
            + onewire(sysfs.root, "slow", 1.0, 'sensors = { "28-00000000000a" = "t" }')
            + onewire(sysfs.root, "fast", 1.0, 'sensors = { "28-00000000000f" = "t" }')))
        fifo = SlowFile(sysfs.w1_dir("28-00000000000a") / "temperature", "21000\n", 1.5)
        with fifo:
            async with collect(broker.host, broker.port, f"{root}/#") as sub:
                with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                    await sub.wait_for(lambda: len(sub.on(f"{root}/fast/t")) >= 8, timeout=30)
                    await sub.wait_for(lambda: len(sub.on(f"{root}/stats")) >= 2)
                    assert await daemon.terminate() == 0
    fast = [stamp(m.json["ts"]) for m in sub.on(f"{root}/fast/t")]
    gaps = [b - a for a, b in itertools.pairwise(fast)]
    assert max(gaps) < 1.45 and sum(gaps) / len(gaps) < 1.1, (
        f"the fast device kept its 1 s cadence: {gaps}")
    assert len(fifo.answered) >= 3 and len(sub.on(f"{root}/slow/t")) >= 3
    slow_reads = [b - a for a, b in zip(fifo.opened, fifo.answered, strict=False)]
    assert min(slow_reads) >= 1.5
    stats = [json.loads(m.payload) for m in sub.on(f"{root}/stats")]
    assert max(s["loop"]["max_lag"] for s in stats) < 1.0, "the loop never waited for a read"
    assert "Traceback" not in daemon.text()


async def test_a_hung_probe_times_out_and_holds_one_thread(tmp_path: Path,
                                                           mosquitto: Mosquitto) -> None:
    """A read that never returns (a FIFO nobody writes) is counted as a timeout each cycle; the
    other bus goes on; the bus of the hung read is not read twice at once."""
    sysfs = Sysfs(tmp_path / "sys")
    sysfs.w1_probe("28-00000000000a", 21_500)
    sysfs.w1_probe("28-00000000000f", 22_500, bus=2)
    root = "sensor-gateway/owhang"
    text = base_config(mosquitto.port, "owhang") + onewire(sysfs.root, extra="read_timeout = 0.3")
    hung = SlowFile(sysfs.w1_dir("28-00000000000a") / "temperature", "21000\n", 3600)
    with hung:
        async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
            async with running(settings_from(tmp_path, text)) as gateway:
                device = gateway.devices["ow"]
                await sub.wait_for(lambda: len(sub.on(f"{root}/ow/28-00000000000f")) >= 10)
                await sub.wait_for(lambda: device.errors["timeout"] >= 3)
                assert len(hung.opened) == 1, "the hung bus is never read twice at once"
                await asyncio.sleep(0)
    assert not sub.on(f"{root}/ow/28-00000000000a")
    assert seqs_contiguous(sub, f"{root}/ow/28-00000000000f")

"""``driver = "system"`` end to end: a /sys and a /proc as the kernel lays them out (with the
Pi firmware's get_throttled) -> the daemon -> a real Mosquitto; the disk is a real statvfs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.broker import Mosquitto
from support.daemon import base_config
from support.inproc import running, settings_from
from support.mqtt import Collector, collect
from support.sysfs import Procfs, Sysfs, eio


def system(sysfs: Sysfs, procfs: Procfs, disk: Path, extra: str = "") -> str:
    return (f'[[devices]]\nid = "host"\ndriver = "system"\nroot = "{sysfs.root}"\n'
            f'proc = "{procfs.root}"\ndisk_path = "{disk}"\ninterval = 0.2\n{extra}\n')


def trees(tmp_path: Path) -> tuple[Sysfs, Procfs]:
    sysfs, procfs = Sysfs(tmp_path / "sys"), Procfs(tmp_path / "proc")
    sysfs.thermal_zone(48_686)
    procfs.loadavg(0.52)
    procfs.meminfo(4_000_000, 3_000_000)
    procfs.uptime(350_735.47)
    return sysfs, procfs


def value(sub: Collector, topic: str) -> tuple[float, str | None]:
    body = sub.on(topic)[-1].json
    return body["value"], body["unit"]


def df(path: Path) -> float:
    stat = os.statvfs(path)
    used = stat.f_blocks - stat.f_bfree
    return 100 * used / (used + stat.f_bavail)


async def test_a_pi_s_health(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sysfs, procfs = trees(tmp_path)
    sysfs.throttled(0x50005)  # under-voltage and throttled now, and both since boot
    root = "sensor-gateway/sys1"
    text = base_config(mosquitto.port, "sys1") + system(sysfs, procfs, tmp_path)
    expected = {"cpu_temperature": (48.686, "°C"), "load_1m": (0.52, None),
                "memory_used": (25.0, "%"), "uptime": (350_735, "s"),
                "under_voltage": (1.0, None), "frequency_capped": (0.0, None),
                "throttled": (1.0, None), "soft_temp_limit": (0.0, None),
                "under_voltage_occurred": (1.0, None), "frequency_capped_occurred": (0.0, None),
                "throttled_occurred": (1.0, None), "soft_temp_limit_occurred": (0.0, None)}
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: all(sub.on(f"{root}/host/{n}") for n in
                                           [*expected, "disk_used"]))
            assert not gateway.devices["host"].errors
    for name, (number, unit) in expected.items():
        assert value(sub, f"{root}/host/{name}") == (number, unit), name
    disk, unit = value(sub, f"{root}/host/disk_used")
    assert unit == "%"
    assert disk == pytest.approx(df(tmp_path), abs=1.0)


async def test_off_a_pi_the_flags_are_left_out(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sysfs, procfs = trees(tmp_path)  # no soc:firmware/get_throttled: a laptop, a VM
    root = "sensor-gateway/sys2"
    text = base_config(mosquitto.port, "sys2") + system(sysfs, procfs, tmp_path)
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: len(sub.on(f"{root}/host/uptime")) >= 3)
            assert not gateway.devices["host"].errors
    names = {m.topic.rsplit("/", 1)[1] for m in sub.under(f"{root}/host/")}
    assert names == {"cpu_temperature", "load_1m", "memory_used", "disk_used", "uptime",
                     "status"}


async def test_chosen_sensors_missing_ones_counted_bad_ones_counted(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    sysfs, procfs = trees(tmp_path)
    root = "sensor-gateway/sys3"
    text = base_config(mosquitto.port, "sys3") + system(
        sysfs, procfs, tmp_path, 'sensors = ["cpu_temperature", "load_1m", "throttled"]')
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            device = gateway.devices["host"]
            await sub.wait_for(lambda: device.errors["missing"] >= 2)  # get_throttled: named
            eio(sysfs.root / "devices" / "virtual" / "thermal" / "thermal_zone0" / "temp")
            procfs.write("loadavg", "\n")
            await sub.wait_for(lambda: device.errors["io_error"] >= 2
                               and device.errors["empty"] >= 2)
            sysfs.thermal_zone(50_000)
            procfs.loadavg(1.5)
            sysfs.throttled(0x4)
            await sub.wait_for(lambda: sub.on(f"{root}/host/throttled"))
            await sub.wait_for(lambda: value(sub, f"{root}/host/cpu_temperature")[0] == 50.0)
            await sub.wait_for(lambda: value(sub, f"{root}/host/load_1m")[0] == 1.5)
    names = {m.topic.rsplit("/", 1)[1] for m in sub.under(f"{root}/host/")}
    assert names == {"cpu_temperature", "load_1m", "throttled", "status"}
    assert value(sub, f"{root}/host/throttled") == (1.0, None)
    assert {m.json["value"] for m in sub.on(f"{root}/host/load_1m")} == {0.52, 1.5}

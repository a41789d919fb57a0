"""The issue's user, with the daemon as a real process: a DS18B20 on 1-Wire, a BME280 on I2C and
the Pi's own health, read from a kernel-shaped /sys and /proc, published to a real Mosquitto;
SIGTERM stops it cleanly with the reads' threads gone."""

from __future__ import annotations

from pathlib import Path

from support.broker import Mosquitto
from support.daemon import base_config, write_config
from support.faults import LoggedDaemon
from support.mqtt import collect
from support.sysfs import Procfs, SlowFile, Sysfs


async def test_ds18b20_bme280_and_the_pi(tmp_path: Path) -> None:
    sysfs, procfs = Sysfs(tmp_path / "sys"), Procfs(tmp_path / "proc")
    sysfs.w1_probe("28-0316a2790fff", 21_500)
    sysfs.bme280(0)
    sysfs.thermal_zone(51_000)
    sysfs.throttled(0)
    procfs.loadavg()
    procfs.meminfo()
    procfs.uptime()
    devices = (
        f'[[devices]]\nid = "boiler"\ndriver = "onewire"\nroot = "{sysfs.root}"\ninterval = 0.5\n'
        'sensors = { "28-0316a2790fff" = "flow" }\n'
        f'[[devices]]\nid = "room"\ndriver = "iio"\nroot = "{sysfs.root}"\nname = "bme280"\n'
        "interval = 0.5\n"
        f'[[devices]]\nid = "pi"\ndriver = "system"\nroot = "{sysfs.root}"\n'
        f'proc = "{procfs.root}"\ndisk_path = "{tmp_path}"\ninterval = 0.5\n')
    root = "sensor-gateway/pi-e2e"
    with Mosquitto(tmp_path / "broker") as broker:
        cfg = write_config(tmp_path / "config.toml", base_config(broker.port, "pi-e2e") + devices)
        # a slow probe: the shutdown must not wait for a read in progress
        with SlowFile(sysfs.w1_dir("28-0316a2790fff") / "temperature", "21500\n", 0.4):
            async with collect(broker.host, broker.port, f"{root}/#") as sub:
                with LoggedDaemon(cfg, tmp_path / "daemon.log") as daemon:
                    wanted = ["boiler/flow", "room/temperature", "room/pressure", "room/humidity",
                              "pi/cpu_temperature", "pi/under_voltage", "pi/disk_used"]
                    await sub.wait_for(lambda: all(len(sub.on(f"{root}/{t}")) >= 2
                                                   for t in wanted), timeout=30)
                    assert await daemon.terminate() == 0
    assert sub.on(f"{root}/boiler/flow")[-1].json["value"] == 21.5
    assert sub.on(f"{root}/room/pressure")[-1].json == {
        **sub.on(f"{root}/room/pressure")[-1].json, "value": 1001.328125, "unit": "hPa"}
    assert sub.on(f"{root}/pi/cpu_temperature")[-1].json["value"] == 51.0
    log = daemon.text()
    assert "Traceback" not in log and "WARNING" not in log, log

"""``driver = "iio"`` end to end: IIO devices laid out as the kernel lays them out
(support/sysfs.py: BME280, BH1750, ADS1015, SCD41 on a Pi 4's i2c-1) -> the daemon -> a real
Mosquitto. Faults for real: EIO from a read, the device unbound and bound again under another
``iio:deviceN``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.broker import Mosquitto
from support.daemon import base_config
from support.inproc import running, settings_from
from support.mqtt import Collector, collect
from support.sysfs import Sysfs, eio


def iio(root: Path, device_id: str, name: str, extra: str = "", interval: float = 0.2) -> str:
    return (f'[[devices]]\nid = "{device_id}"\ndriver = "iio"\nroot = "{root}"\n'
            f'name = "{name}"\ninterval = {interval}\n{extra}\n')


def last(sub: Collector, topic: str) -> tuple[float, str | None]:
    message = sub.on(topic)[-1].json
    return message["value"], message["unit"]


def write(path: Path, text: str) -> None:
    path.unlink()
    path.write_text(text)


async def test_chips_as_the_kernel_shows_them(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sysfs = Sysfs(tmp_path / "sys")
    sysfs.bh1750(0)  # the iio:deviceN numbers follow probe order, not what the config says
    sysfs.scd4x(1)
    sysfs.bme280(2)
    sysfs.ads1015(3)
    root = "sensor-gateway/iio1"
    text = (base_config(mosquitto.port, "iio1") + iio(sysfs.root, "env", "bme280")
            + iio(sysfs.root, "light", "bh1750") + iio(sysfs.root, "adc", "ads1015")
            + iio(sysfs.root, "air", "scd41"))
    expected = {
        "env/temperature": (23.45, "°C"), "env/pressure": (1001.328125, "hPa"),
        "env/humidity": (45.123047, "%"), "light/illuminance": (999.9996, "lx"),
        "adc/voltage0": (3.702, "V"), "adc/voltage1": (0.0, "V"), "adc/voltage2": (-0.015, "V"),
        "adc/voltage3": (6.141, "V"), "adc/voltage0_voltage1": (0.3, "V"),
        "adc/voltage2_voltage3": (0.3, "V"), "air/co2": (812.0, "ppm"),
        "air/temperature": (24.42749, "°C"), "air/humidity": (45.776367, "%"),
    }
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: all(sub.on(f"{root}/{t}") for t in expected))
            assert not any(d.errors for d in gateway.devices.values())
    for topic, (value, unit) in expected.items():
        got, got_unit = last(sub, f"{root}/{topic}")
        assert got == pytest.approx(value, abs=1e-6), topic
        assert got_unit == unit, topic
    env = {m.topic.rsplit("/", 1)[1] for m in sub.under(f"{root}/env/")}
    assert env == {"temperature", "pressure", "humidity", "status"}, (
        "no channel from the oversampling_ratio attributes")


async def test_two_of_one_name_by_index_in_address_order(tmp_path: Path,
                                                          mosquitto: Mosquitto) -> None:
    """Two BME280s: ``index`` counts them by bus address (0x76 then 0x77), whatever their
    ``iio:deviceN``; without ``index`` the device says which to set."""
    sysfs = Sysfs(tmp_path / "sys")
    sysfs.bme280(0, address=0x77, millidegrees=19_000)
    sysfs.bme280(1, address=0x76, millidegrees=21_000)
    root = "sensor-gateway/iio2"
    text = (base_config(mosquitto.port, "iio2")
            + iio(sysfs.root, "first", "bme280", "index = 0\nchannels = [\"temperature\"]")
            + iio(sysfs.root, "second", "bme280", "index = 1")
            + iio(sysfs.root, "which", "bme280"))
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: sub.on(f"{root}/first/temperature")
                               and sub.on(f"{root}/second/temperature")
                               and sub.on(f"{root}/which/status"))
            assert gateway.devices["which"].online is False
            assert gateway.devices["which"].restarts >= 1
    assert last(sub, f"{root}/first/temperature")[0] == 21.0
    assert last(sub, f"{root}/second/temperature")[0] == 19.0
    assert {m.topic.rsplit("/", 1)[1] for m in sub.under(f"{root}/first/")} == {
        "temperature", "status"}, "channels = [...] restricts"


async def test_eio_is_counted_offline_after_the_timeout_back_when_reads_work(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    sysfs = Sysfs(tmp_path / "sys")
    directory = sysfs.bme280(0, raw_channels=False)
    root = "sensor-gateway/iio3"
    text = base_config(mosquitto.port, "iio3") + iio(sysfs.root, "env", "bme280")
    status = f"{root}/env/status"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            device = gateway.devices["env"]
            await sub.wait_for(lambda: len(sub.on(f"{root}/env/humidity")) >= 2)
            eio(directory / "in_humidityrelative_input")  # one channel fails: the rest go on
            await sub.wait_for(lambda: device.errors["io_error"] >= 3)
            before = len(sub.on(f"{root}/env/temperature"))
            await sub.wait_for(lambda: len(sub.on(f"{root}/env/temperature")) >= before + 3)
            assert [m.text for m in sub.on(status)] == ["online"]
            humidity = len(sub.on(f"{root}/env/humidity"))
            for name in ("in_temp_input", "in_pressure_input"):  # the sensor fell off the bus
                eio(directory / name)
            await sub.wait_for(lambda: sub.on(status)[-1].text == "offline", timeout=5)
            for name in ("in_temp_input", "in_pressure_input", "in_humidityrelative_input"):
                write(directory / name, "22000\n" if "temp" in name else "101.3\n")
            await sub.wait_for(lambda: sub.on(status)[-1].text == "online", timeout=10)
            await sub.wait_for(lambda: len(sub.on(f"{root}/env/humidity")) > humidity)
            assert set(device.errors) == {"io_error"}
            assert [m.text for m in sub.on(status)] == ["online", "offline", "online"]
    temps = [m.json["seq"] for m in sub.on(f"{root}/env/temperature")]
    assert temps == list(range(1, len(temps) + 1))
    assert last(sub, f"{root}/env/temperature")[0] == 22.0


async def test_unbound_then_back_under_another_number(tmp_path: Path,
                                                      mosquitto: Mosquitto) -> None:
    sysfs = Sysfs(tmp_path / "sys")
    sysfs.bh1750(0)
    sysfs.bme280(1)
    root = "sensor-gateway/iio4"
    text = base_config(mosquitto.port, "iio4") + iio(sysfs.root, "env", "bme280")
    status = f"{root}/env/status"
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: len(sub.on(f"{root}/env/temperature")) >= 2)
            sysfs.iio_remove(1)
            await sub.wait_for(lambda: sub.on(status)[-1].text == "offline", timeout=5)
            sysfs.bme280(5, millidegrees=20_000)
            await sub.wait_for(lambda: sub.on(status)[-1].text == "online", timeout=10)
            await sub.wait_for(lambda: 20.0 in [m.json["value"] for m in
                                                sub.on(f"{root}/env/temperature")])
            assert gateway.devices["env"].restarts >= 1


async def test_bad_values_counted_others_published(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sysfs = Sysfs(tmp_path / "sys")
    directory = sysfs.bme280(0, raw_channels=False)
    root = "sensor-gateway/iio5"
    text = base_config(mosquitto.port, "iio5") + iio(sysfs.root, "env", "bme280")
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            device = gateway.devices["env"]
            await sub.wait_for(lambda: len(sub.on(f"{root}/env/pressure")) >= 2)
            write(directory / "in_temp_input", "")
            write(directory / "in_humidityrelative_input", "45 %\n")
            await sub.wait_for(lambda: device.errors["empty"] >= 2
                               and device.errors["unparsable"] >= 2)
            before = len(sub.on(f"{root}/env/pressure"))
            await sub.wait_for(lambda: len(sub.on(f"{root}/env/pressure")) >= before + 2)
    assert {m.json["value"] for m in sub.on(f"{root}/env/temperature")} == {23.45}


async def test_no_such_chip_is_offline_with_the_reason(tmp_path: Path,
                                                       mosquitto: Mosquitto) -> None:
    sysfs = Sysfs(tmp_path / "sys")
    sysfs.bh1750(0)
    root = "sensor-gateway/iio6"
    text = base_config(mosquitto.port, "iio6") + iio(sysfs.root, "env", "bme280")
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: sub.on(f"{root}/env/status"))
            assert sub.on(f"{root}/env/status")[-1].text == "offline"
            sysfs.bme280(1)  # the overlay line added, the module loaded
            await sub.wait_for(lambda: sub.on(f"{root}/env/temperature"), timeout=10)
            assert gateway.devices["env"].online


async def test_a_hwmon_sensor_by_name(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """SHT3x has a hwmon driver, not an IIO one: ``name = "sht3x"`` finds it under class/hwmon,
    beside the Pi's own hwmon devices."""
    sysfs = Sysfs(tmp_path / "sys")
    sysfs.pi_hwmon()
    directory = sysfs.sht3x(2)
    root = "sensor-gateway/iio7"
    text = base_config(mosquitto.port, "iio7") + iio(sysfs.root, "air", "sht3x")
    async with collect(mosquitto.host, mosquitto.port, f"{root}/#") as sub:
        async with running(settings_from(tmp_path, text)) as gateway:
            await sub.wait_for(lambda: sub.on(f"{root}/air/temperature")
                               and sub.on(f"{root}/air/humidity"))
            eio(directory / "humidity1_input")
            await sub.wait_for(lambda: gateway.devices["air"].errors["io_error"] >= 2)
    assert last(sub, f"{root}/air/temperature") == (22.15, "°C")
    assert last(sub, f"{root}/air/humidity") == (51.23, "%")
    names = {m.topic.rsplit("/", 1)[1] for m in sub.under(f"{root}/air/")}
    assert names == {"temperature", "humidity", "status"}

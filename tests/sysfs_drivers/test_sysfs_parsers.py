"""The sysfs drivers' pure parsers, on the kernel's own formats; fuzzed: arbitrary bytes
(decoded as the drivers decode them) raise only DecodeError.

Vectors: w1_slave lines as w1_therm.c prints them (two samples widely posted by Pi users,
``72 01 4b 46 7f ff 0e 10 57 : crc=57 YES`` / ``t=23125`` and ``24 01 4b 46 7f ff 0c 10 48``
/ ``t=18250``, whose CRC-8 and temperatures the DS18B20 datasheet reproduces); IIO files as
Documentation/ABI/testing/sysfs-bus-iio names them; /proc formats from proc(5).
"""

from __future__ import annotations

import contextlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.sysfs import crc8, ds18b20_scratchpad, kernel_millidegrees, w1_slave_text

from drivers.iio.channels import Channel, channels_of, hwmon_channels_of, parse_number
from drivers.iio.driver import plan
from drivers.onewire.parse import parse_temperature, parse_w1_slave
from drivers.system import sources
from gateway.sdk import DecodeError

FUZZ = settings(max_examples=300, deadline=None)
text_like = st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace"))


def kind_of(call: object, *args: object) -> str:
    with pytest.raises(DecodeError) as info:
        call(*args)  # type: ignore[operator]
    return info.value.kind


# --- 1-Wire -----------------------------------------------------------------------------------

SAMPLE_1 = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n"
SAMPLE_2 = "24 01 4b 46 7f ff 0c 10 48 : crc=48 YES\n24 01 4b 46 7f ff 0c 10 48 t=18250\n"


def test_published_samples_and_our_generator_agree() -> None:
    assert parse_w1_slave(SAMPLE_1) == 23125
    assert parse_w1_slave(SAMPLE_2) == 18250
    assert crc8(bytes.fromhex("72014b467fff0e10")) == 0x57
    assert crc8(bytes.fromhex("24014b467fff0c10")) == 0x48
    pad = ds18b20_scratchpad(-10_125)
    assert kernel_millidegrees(pad) == -10_125
    assert parse_w1_slave(w1_slave_text(pad)) == -10_125


def test_power_on_value_is_0x0550() -> None:
    pad = ds18b20_scratchpad(85_000)
    assert pad[:2] == bytes([0x50, 0x05])
    assert parse_w1_slave(w1_slave_text(pad)) == 85_000  # the driver decides (second read)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "empty"),
        ("\n", "empty"),
        ("21.5\n", "unparsable"),
        ("t=21500\n", "unparsable"),
        ("-127000\n", "out_of_range"),
        ("127937\n", "out_of_range"),  # 0x07FF: the "insufficient power" value
    ],
)
def test_temperature_file_bad_reads(text: str, kind: str) -> None:
    assert kind_of(parse_temperature, text) == kind


def test_temperature_file() -> None:
    assert parse_temperature("21500\n") == 21500
    assert parse_temperature("-10125\n") == -10125


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "empty"),
        (SAMPLE_1.replace("YES", "NO"), "crc"),
        (w1_slave_text(ds18b20_scratchpad(21_500), crc_ok=False), "crc"),
        ("00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n", "crc"),
        (SAMPLE_1.splitlines()[0] + "\n", "unparsable"),
        (SAMPLE_1.replace("t=23125", "t=abc"), "unparsable"),
        (SAMPLE_1.replace("t=23125", "t=-127000"), "out_of_range"),
        ("garbage\n", "unparsable"),
    ],
)
def test_w1_slave_bad_reads(text: str, kind: str) -> None:
    assert kind_of(parse_w1_slave, text) == kind


@FUZZ
@given(text_like)
def test_fuzz_onewire(text: str) -> None:
    for parser in (parse_temperature, parse_w1_slave):
        try:
            value = parser(text)
        except DecodeError:
            continue
        assert -55_000 <= value <= 125_000


# --- IIO ----------------------------------------------------------------------------------------

def names(files: list[str]) -> dict[str, tuple[str, str | None, bool]]:
    return {c.name: (c.kind, c.unit, c.processed) for c in channels_of(files)}


def test_channel_names_kinds_and_units() -> None:
    files = ["name", "in_temp_input", "in_temp_raw", "in_temp_scale", "in_pressure_input",
             "in_humidityrelative_input", "in_temp_oversampling_ratio",
             "in_temp_oversampling_ratio_available", "in_illuminance_raw", "in_illuminance0_input",
             "in_voltage0_raw", "in_voltage0-voltage1_raw", "in_voltage_scale",
             "in_current0_raw", "in_concentration_co2_raw", "in_resistance_input",
             "in_uvindex_input", "in_intensity_ir_raw", "in_temp_object_raw",
             "in_massconcentration_pm2p5_input", "in_temp_peak_raw", "in_accel_x_mean_raw",
             "out_voltage0_raw", "in_steps_input", "sampling_frequency"]
    assert names(files) == {
        "temperature": ("temperature", "°C", True),
        "pressure": ("pressure", "hPa", True),
        "humidity": ("humidity", "%", True),
        "illuminance": ("illuminance", "lx", False),
        "illuminance0": ("illuminance", "lx", True),
        "voltage0": ("voltage", "V", False),
        "voltage0_voltage1": ("voltage", "V", False),
        "current0": ("current", "A", False),
        "co2": ("co2", "ppm", False),
        "resistance": ("resistance", "Ω", True),
        "uv_index": ("uv_index", None, True),
        "intensity_ir": ("intensity", None, False),
        "temperature_object": ("temperature", "°C", False),
        "pm2_5": ("pm2_5", "µg/m³", True),
        "steps": ("steps", None, True),  # a type without an ABI unit here: its number, as named
    }


@pytest.mark.parametrize(
    ("files", "texts", "expected"),
    [
        # bmp280-core.c (6.12+): _input preferred over _raw/_scale; kPa -> hPa
        (["in_pressure_input", "in_pressure_raw", "in_pressure_scale"],
         {"in_pressure_input": "100.132812500\n"}, ("pressure", 1001.328125)),
        # ti-ads1015.c: raw x its own scale (mV) -> V
        (["in_voltage0_raw", "in_voltage0_scale", "in_voltage_scale"],
         {"in_voltage0_raw": "1234\n", "in_voltage0_scale": "3.000000000\n"}, ("voltage0", 3.702)),
        # a scale shared by type
        (["in_voltage1_raw", "in_voltage_scale"],
         {"in_voltage1_raw": "-5\n", "in_voltage_scale": "0.500000\n"}, ("voltage1", -0.0025)),
        # scd4x.c: (raw + offset) x scale milli °C
        (["in_temp_raw", "in_temp_scale", "in_temp_offset"],
         {"in_temp_raw": "26000\n", "in_temp_scale": "2.670288085\n",
          "in_temp_offset": "-16852.114286\n"}, ("temperature", 24.42749)),  # Sensirion: -45 + 175 x raw / 65536
        # scd4x.c: ppm x 0.0001 = percent (the ABI's unit) -> ppm
        (["in_concentration_co2_raw", "in_concentration_co2_scale"],
         {"in_concentration_co2_raw": "812\n", "in_concentration_co2_scale": "0.000100\n"},
         ("co2", 812.0)),
        # bh1750.c: lux
        (["in_illuminance_raw", "in_illuminance_scale"],
         {"in_illuminance_raw": "1200\n", "in_illuminance_scale": "0.833333\n"},
         ("illuminance", 999.9996)),
    ],
)
def test_channel_values(files: list[str], texts: dict[str, str],
                        expected: tuple[str, float]) -> None:
    (one,) = plan(files)
    reading, offset, scale = (texts[f] if f else None for f in one.files())
    assert reading is not None
    assert one.channel.name == expected[0]
    assert one.channel.value(reading, offset, scale) == pytest.approx(expected[1])


def test_hwmon_channels() -> None:
    """Documentation/hwmon/sysfs-interface.rst: one of a type is named by its kind alone."""
    sht3x = ["name", "temp1_input", "humidity1_input", "temp1_max", "temp1_alarm",
             "humidity1_min_hyst", "heater_enable", "update_interval"]
    assert [(c.name, c.unit, c.value_file()) for c in hwmon_channels_of(sht3x)] == [
        ("humidity", "%", "humidity1_input"), ("temperature", "°C", "temp1_input")]
    board = ["temp1_input", "temp2_input", "in0_input", "curr1_input", "power1_input",
             "in0_lcrit_alarm", "fan1_input"]
    assert {c.name: c.factor for c in hwmon_channels_of(board)} == {
        "temperature1": 1e-3, "temperature2": 1e-3, "voltage": 1e-3, "current": 1e-3,
        "power": 1e-6}
    (humidity,) = [c for c in hwmon_channels_of(sht3x) if c.kind == "humidity"]
    assert humidity.value("51230\n", None, None) == 51.23


@pytest.mark.parametrize(("text", "kind"), [("", "empty"), ("nan\n", "unparsable"),
                                            ("1e3\n", "unparsable"), ("12 34\n", "unparsable")])
def test_iio_bad_numbers(text: str, kind: str) -> None:
    assert kind_of(parse_number, text) == kind


@FUZZ
@given(st.lists(st.text(alphabet="in_tempvolagecurs0123-_xyzrwpc", max_size=30), max_size=20),
       text_like, text_like, text_like)
def test_fuzz_iio(files: list[str], reading: str, offset: str, scale: str) -> None:
    for channel in channels_of(files):
        assert isinstance(channel, Channel)
        with contextlib.suppress(DecodeError):
            channel.value(reading, offset, scale)


# --- the host -------------------------------------------------------------------------------------

def test_host_sources() -> None:
    assert sources.parse_thermal("48686\n") == 48.686
    assert sources.parse_loadavg("0.52 0.58 0.59 1/389 12345\n") == 0.52
    assert sources.parse_uptime("350735.47 1297721.24\n") == 350735
    meminfo = "MemTotal:        4000000 kB\nMemFree:  100 kB\nMemAvailable:    3000000 kB\n"
    assert sources.parse_meminfo(meminfo) == 25.0
    flags = sources.parse_throttled("50005\n")
    assert {k for k, v in flags.items() if v} == {"under_voltage", "throttled",
                                                  "under_voltage_occurred", "throttled_occurred"}
    assert not any(sources.parse_throttled("0\n").values())
    stat = os.statvfs_result((4096, 4096, 1000, 300, 250, 0, 0, 0, 0, 255))
    assert sources.disk_used(stat) == round(100 * 700 / 950, 1)  # as df: used / (used + avail)


@FUZZ
@given(text_like)
def test_fuzz_host(text: str) -> None:
    for parser in (sources.parse_thermal, sources.parse_loadavg, sources.parse_uptime,
                   sources.parse_meminfo, sources.parse_throttled):
        with contextlib.suppress(DecodeError):
            parser(text)

"""NMEA GGA/RMC through pynmea2 with required checksums, and the sentence encoders."""

import datetime as dt

import pytest

from drivers.serial.protocols import decode_nmea, encode_gga, encode_rmc, nmea_checksum
from gateway.core.readings import Measurement as M
from gateway.errors import DecodeError

# The classic examples; checksum = XOR of every character between "$" and "*"
# (computed with nmea_checksum in test_known_checksums below: 0x47 and 0x6A).
GGA = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"
LAT = 48 + 7.038 / 60  # 4807.038 = 48 degrees 7.038 minutes
LON = 11 + 31.000 / 60


def kind_of(line: bytes | str) -> str:
    with pytest.raises(DecodeError) as info:
        decode_nmea(line)
    return info.value.kind


def test_known_checksums() -> None:
    assert nmea_checksum(GGA[1:-3]) == 0x47
    assert nmea_checksum(RMC[1:-3]) == 0x6A


def rows(measurements: list[M]) -> list[tuple[str, float, str | None]]:
    """Measurements as plain tuples, to compare with pytest.approx values (no floats)."""
    return [(m.name, m.value, m.unit) for m in measurements]


def test_gga() -> None:
    assert rows(decode_nmea(GGA.encode())) == [
        ("fix_quality", 1.0, None),
        ("satellites", 8.0, None),
        ("latitude", pytest.approx(LAT), "°"),
        ("longitude", pytest.approx(LON), "°"),
        ("altitude", 545.4, "m"),
    ]


def test_rmc_speed_in_km_per_h() -> None:
    expected: list[tuple[str, object, str]] = [
        ("latitude", pytest.approx(LAT), "°"),
        ("longitude", pytest.approx(LON), "°"),
        ("speed", pytest.approx(22.4 * 1.852), "km/h"),
    ]
    assert rows(decode_nmea(RMC + "\r\n")) == expected


def test_southern_and_western_hemispheres_are_negative() -> None:
    line = encode_gga(-33.5, -70.25)
    got = {m.name: m.value for m in decode_nmea(line)}
    assert got["latitude"] == pytest.approx(-33.5)
    assert got["longitude"] == pytest.approx(-70.25)


def test_gga_without_fix_publishes_only_quality_and_satellites() -> None:
    line = "$GPGGA,,,,,,0,00,99.99,,,,,,*48"
    assert nmea_checksum(line[1:-3]) == 0x48
    assert decode_nmea(line) == [M("fix_quality", 0.0), M("satellites", 0.0)]


def test_rmc_void_publishes_nothing() -> None:
    assert decode_nmea(encode_rmc(1.0, 2.0, valid=False)) == []


@pytest.mark.parametrize(
    "line",
    [
        "$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74",
        "$GNGSA,A,3,01,02,,,,,,,,,,,1.0,1.0,1.0*"
        + f"{nmea_checksum('GNGSA,A,3,01,02,,,,,,,,,,,1.0,1.0,1.0'):02X}",
        "$GPXYZ,1,2*" + f"{nmea_checksum('GPXYZ,1,2'):02X}",  # unknown to pynmea2
        "$PASH*0A",  # proprietary: pynmea2 itself would raise IndexError
        "$PUBX,00*" + f"{nmea_checksum('PUBX,00'):02X}",
    ],
)
def test_unrelated_sentences_give_nothing(line: str) -> None:
    assert decode_nmea(line) == []


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (GGA[:-3], "checksum"),  # no checksum at all: rejected
        (GGA[:-2] + "48", "checksum"),
        (GGA.replace("545.4", "545.5"), "checksum"),
        (GGA[1:], "garbage"),  # no "$"
        ("", "garbage"),
        ("hello", "garbage"),
        ("$", "checksum"),
        ("$GPGGA,1*2*00", "garbage"),
        ("$GPGGA,1*0", "garbage"),
        ("$GPGGA*56", "garbage"),  # checksum right, but not a GGA sentence pynmea2 can parse
        (b"$GPGGA,\xff*00", "garbage"),
        ("$GPGGA,é*00", "garbage"),
    ],
)
def test_rejected_lines(line: bytes | str, kind: str) -> None:
    assert kind_of(line) == kind


def sentence(body: str) -> str:
    return f"${body}*{nmea_checksum(body):02X}"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("GPGGA,123519,9107.038,N,01131.000,E,1,08,0.9,545.4,M,,M,,", "out_of_range"),  # lat 91
        ("GPGGA,123519,4807.038,N,18131.000,E,1,08,0.9,545.4,M,,M,,", "out_of_range"),  # lon 181
        ("GPGGA,123519,4860.000,N,01131.000,E,1,08,0.9,545.4,M,,M,,", "out_of_range"),  # 60 min
        ("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,nan,M,,M,,", "out_of_range"),
        ("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,1e9,M,,M,,", "out_of_range"),
        ("GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,5x,M,,M,,", "decode"),
        ("GPGGA,123519,4807.038,X,01131.000,E,1,08,0.9,545.4,M,,M,,", "decode"),
        ("GPGGA,123519,48o7.038,N,01131.000,E,1,08,0.9,545.4,M,,M,,", "decode"),
        ("GPGGA,123519,4807.038,N,01131.000,E,x,08,0.9,545.4,M,,M,,", "decode"),
        ("GPGGA,123519,4807.038,N,01131.000,E,1,8_0,0.9,545.4,M,,M,,", "decode"),
        ("GPGGA", "garbage"),
        ("GPRMC,123519,A,4807.038,N,01131.000,E,inf,084.4,230394,003.1,W", "out_of_range"),
        ("GPRMC,123519,A,4807.038,N,01131.000,E,1e400,084.4,230394,003.1,W", "out_of_range"),
    ],
)
def test_bad_values(body: str, kind: str) -> None:
    assert kind_of(sentence(body)) == kind


def test_huge_coordinate_digits_are_malformed_not_a_crash() -> None:
    # int() refuses strings over 4300 digits with ValueError: such a field must not reach it
    body = "GPGGA,123519," + "9" * 5000 + ".0,N,01131.000,E,1,08,0.9,545.4,M,,M,,"
    assert kind_of(sentence(body)) == "decode"


def test_lowercase_checksum_and_other_talkers() -> None:
    line = GGA.replace("$GP", "$GN")
    line = line[:-2] + f"{nmea_checksum(line[1:-3]):02x}"
    assert decode_nmea(line)[0] == M("fix_quality", 1.0)


def test_encoders_round_trip() -> None:
    utc = dt.datetime(2024, 5, 17, 12, 34, 56, tzinfo=dt.UTC)
    gga = encode_gga(
        48.1173, 11.516667, altitude=-12.3, satellites=11, fix_quality=2, utc=utc, talker="GN"
    )
    assert gga.startswith(b"$GNGGA,123456.00,4807.038000,N,01131.000020,E,2,11,")
    assert {m.name: m.value for m in decode_nmea(gga)} == {
        "fix_quality": 2.0,
        "satellites": 11.0,
        "latitude": pytest.approx(48.1173),
        "longitude": pytest.approx(11.516667),
        "altitude": -12.3,
    }
    rmc = encode_rmc(-0.5, 179.999999, speed_kmh=100.0, utc=utc)
    assert b",170524," in rmc
    got = {m.name: m.value for m in decode_nmea(rmc)}
    assert got == {
        "latitude": pytest.approx(-0.5),
        "longitude": pytest.approx(179.999999),
        "speed": pytest.approx(100.0, abs=0.002),
    }


def test_encoder_rounding_carries_into_degrees() -> None:
    # 59.99999999 minutes must not be written as "60.000000"
    line = encode_gga(10 + 59.99999999 / 60, 0.0)
    assert b",1100.000000,N," in line


@pytest.mark.parametrize("lat", [90.5, -91.0, float("nan")])
def test_encoder_rejects_bad_coordinates(lat: float) -> None:
    with pytest.raises(ValueError, match="coordinate"):
        encode_gga(lat, 0.0)

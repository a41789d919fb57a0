"""BLE device options: validated per mode, errors name the key, the bindkey never shows."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.daemon import run_cli
from support.inproc import config_problems as problems

from drivers.ble.config import BleConfig
from gateway.config import load_config

KEY = "231d39c1d7cc1ab1aee224cd096db932"


def device(extra: str, address: str = "aa:bb:cc:dd:ee:ff") -> str:
    return f'[[devices]]\nid = "b"\ndriver = "ble"\naddress = "{address}"\n{extra}\n'


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ('adapter = "bluetooth0"', "devices[0].adapter", 'like "hci0"'),
        ('decoder = "theengs"', "devices[0].decoder", "unknown decoder 'theengs'"),
        ('bindkey = "1234"', "devices[0].bindkey", "32 hex digits"),
        ('mode = "gatt"\ndecoder = "ruuvi"', "devices[0].decoder", "only used with mode = 'advertisement'"),
        ("notify = true", "devices[0].notify", "only used with mode = 'gatt'"),
        ('adapter = "simulated"\nmode = "gatt"', "devices[0].adapter", "advertisements only"),
        ('simulate = { format = "ruuvi" }', "devices[0].simulate", 'adapter = "simulated"'),
        ('adapter = "simulated"\nsimulate = { format = "ibeacon" }', "devices[0].simulate.format", "'bthome'"),
        ('adapter = "simulated"\nsimulate = { every = 0 }', "devices[0].simulate.every", "> 0"),
        (f'decoder = "ruuvi"\nbindkey = "{KEY}"', "devices[0].bindkey", "'bthome', 'xiaomi'"),
        ('decoder = "ruuvi"\nadapter = "simulated"\nsimulate = { format = "pvvx" }',
         "devices[0].simulate", "not read by decoder 'ruuvi'"),
        ("silence_timeout = 0", "devices[0].silence_timeout", "must be > 0"),
        ("heartbeat = -1", "devices[0].heartbeat", "must be > 0"),
        ('scanning = "lazy"', "devices[0].scanning", "'active'"),
        ('mode = "gatt"\ncharacteristics = [{ uuid = "xyz", name = "c" }]',
         "devices[0].characteristics[0].uuid", "16-bit UUID"),
        ('mode = "gatt"\ncharacteristics = [{ uuid = "2a6e", name = "c", format = "<hh" }]',
         "devices[0].characteristics[0].format", "exactly one number"),
        ('mode = "gatt"\ncharacteristics = [{ uuid = "2a6e", name = "c", format = "<q!" }]',
         "devices[0].characteristics[0].format", "not a struct format"),
        ('mode = "gatt"\ncharacteristics = [{ uuid = "2a6e", nam = "c" }]',
         "devices[0].characteristics[0].nam", "unknown key"),
    ],
)
def test_ble_config_errors(tmp_path: Path, extra: str, key: str, message: str) -> None:
    found = problems(tmp_path, device(extra))
    assert any(k == key and message in m for k, m in found), found


def test_bad_address_names_the_key(tmp_path: Path) -> None:
    found = problems(tmp_path, device("", address="aa:bb:cc:dd:ee"))
    assert found == [("devices[0].address", "must be a MAC address like AA:BB:CC:DD:EE:FF")]


def test_defaults_and_normalised_address(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(device("", address="aa-bb-cc-dd-ee-ff"))
    config = load_config(path).devices[0]
    assert isinstance(config, BleConfig)
    assert config.address == "AA:BB:CC:DD:EE:FF"
    assert (config.adapter, config.mode, config.decoder, config.scanning) == (
        "hci0", "advertisement", "auto", "active")
    assert (config.offline_after(), config.heartbeat, config.interval) == (300.0, 300.0, None)
    assert config.stall_after() is None  # silence is the scanner's watchdog's business


def test_gatt_timeouts_follow_the_poll_interval(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(device('mode = "gatt"\ninterval = 200'))
    config = load_config(path).devices[0]
    assert isinstance(config, BleConfig)
    assert config.offline_after() == 600.0
    assert config.stall_after() == 600.0


def test_bindkey_never_printed(tmp_path: Path) -> None:
    bad = KEY[:-1] + "g"  # one wrong digit: the error must not echo it
    found = problems(tmp_path, device(f'bindkey = "{bad}"'))
    assert bad not in repr(found)
    path = tmp_path / "ok.toml"
    path.write_text(device(f'bindkey = "{KEY}"'))
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert KEY not in result.stdout + result.stderr
    result = run_cli("check", "--config", str(tmp_path / "c.toml"))
    assert result.returncode == 2
    assert bad not in result.stdout + result.stderr
    config = load_config(path).devices[0]
    assert KEY not in repr(config) and KEY not in str(config)


LEGACY_KEY = "b853075158487ca39a5b5ea9"  # a MiBeacon v2/v3 key: 24 hex digits


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ('bindkey_file = "/nonexistent/key"', "devices[0].bindkey_file", "cannot read"),
        ('bindkey_env = "SG_TEST_UNSET_KEY"', "devices[0].bindkey_env", "is not set"),
        ('bindkey_env = "not a name"', "devices[0].bindkey_env", "pattern"),
        (f'bindkey = "{KEY}"\nbindkey_env = "HOME"', "devices[0].bindkey_env", "only one"),
        (f'bindkey = "{LEGACY_KEY}"\ndecoder = "bthome"', "devices[0].bindkey", "BTHome keys"),
        ('mode = "gatt"\nbindkey_file = "/k"', "devices[0].bindkey_file",
         "only used with mode = 'advertisement'"),
    ],
)
def test_bindkey_sources_errors(tmp_path: Path, extra: str, key: str, message: str) -> None:
    found = problems(tmp_path, device(extra))
    assert any(k == key and message in m for k, m in found), found


def test_bindkey_from_file_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(f"  {LEGACY_KEY}\n")
    path = tmp_path / "c.toml"
    path.write_text(device(f'decoder = "xiaomi"\nbindkey_file = "{key_file}"'))
    config = load_config(path).devices[0]
    assert isinstance(config, BleConfig)
    assert config.bindkey_bytes() == bytes.fromhex(LEGACY_KEY)
    monkeypatch.setenv("SG_TEST_KEY", KEY)
    path.write_text(device('bindkey_env = "SG_TEST_KEY"'))
    config = load_config(path).devices[0]
    assert isinstance(config, BleConfig)
    assert config.bindkey_bytes() == bytes.fromhex(KEY)
    assert KEY not in repr(config) and KEY not in str(config)


def test_a_bad_key_file_is_not_echoed(tmp_path: Path) -> None:
    secret = KEY[:-1] + "g"
    key_file = tmp_path / "key"
    key_file.write_text(secret)
    text = device(f'bindkey_file = "{key_file}"')
    found = problems(tmp_path, text)
    assert found == [("devices[0].bindkey_file", "must be 32 hex digits (16 bytes), or 24 for a "
                                                 "Xiaomi MiBeacon v2/v3 device")]
    path = tmp_path / "check.toml"
    path.write_text(text)
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 2
    assert "devices[0].bindkey_file" in result.stderr
    assert secret not in result.stdout + result.stderr
    key_file.write_text(KEY)
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert KEY not in result.stdout + result.stderr

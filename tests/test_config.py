"""Config contract: errors name the TOML key, exit 2, no traceback, no secret; env overrides."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.daemon import run_cli
from support.inproc import config_problems as problems

from gateway.config import load_config
from gateway.errors import ConfigError

GOOD = """
[gateway]
id = "greenhouse"
[mqtt]
host = "broker.lan"
port = 1883
[[devices]]
id = "kitchen"
driver = "simulated"
sensors = ["temperature", "humidity"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_good_config_loads(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, GOOD))
    assert settings.gateway.id == "greenhouse"
    assert settings.topic_root == "sensor-gateway/greenhouse"
    assert [d.id for d in settings.devices] == ["kitchen"]
    assert settings.mqtt.qos == 1


DEVICE = '[[devices]]\nid = "d{n}"\ndriver = "simulated"\nsensors = ["temperature"]\n'


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        (DEVICE.format(n=0) + DEVICE.format(n=1) + DEVICE.format(n=2) + "interval = 0\n",
         "devices[2].interval", "must be > 0"),
        (DEVICE.format(n=0) + "interval = -1\n", "devices[0].interval", "must be > 0"),
        ("[mqtt]\nport = 70000\n", "mqtt.port", "must be <= 65535"),
        ("[mqtt]\nport = 0\n", "mqtt.port", "must be >= 1"),
        ("[mqtt]\nqos = 2\n", "mqtt.qos", "must be <= 1"),
        ("[mqtt]\nhots = 'x'\n", "mqtt.hots", "unknown key"),
        ("[gateway]\nname = 'x'\n", "gateway.name", "unknown key"),
        ("[whatever]\nx = 1\n", "whatever", "unknown key"),
        (DEVICE.format(n=0) + "colour = 'red'\n", "devices[0].colour", "unknown key"),
        (DEVICE.format(n=0) + "[devices.faults]\nraise_evry = 3\n",
         "devices[0].faults.raise_evry", "unknown key"),
        ('[[devices]]\nid = "x"\ndriver = "zigbee"\n', "devices[0]", "unknown driver 'zigbee'"),
        ('[[devices]]\nid = "x"\n', "devices[0]", "missing 'driver'"),
        ('[[devices]]\ndriver = "simulated"\nsensors = ["temperature"]\n', "devices[0].id",
         "required"),
        (DEVICE.format(n=0) + DEVICE.format(n=0), "devices[1].id", "duplicate device id 'd0'"),
        ('[[devices]]\nid = "x"\ndriver = "simulated"\nsensors = ["temprature"]\n',
         "devices[0].sensors[0]",
         "not a built-in profile"),
        ("[buffer]\noverflow = 'drop_random'\n", "buffer.overflow", "drop_oldest"),
        ("[mqtt]\nusername = 'u'\npassword = 'a'\npassword_file = '/x'\n", "mqtt.password_file",
         "not both"),
        # MQTT 3.1.1 [MQTT-3.1.2-22]: a password is only sent with a user name (#18)
        ("[mqtt]\npassword = 'hunter2'\n", "mqtt.username", "a password is set but no username"),
        ("[mqtt]\nca_file = '/x'\n", "mqtt.ca_file", "tls is false"),
        ("[mqtt]\ntopic_root = 'a/#'\n", "mqtt.topic_root", "must not contain"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    found = problems(tmp_path, text)
    assert any(k == key and message in m for k, m in found), found


def test_unknown_driver_lists_known_ones(tmp_path: Path) -> None:
    [(_, message)] = problems(tmp_path, '[[devices]]\nid = "x"\ndriver = "zigbee"\n')
    assert "simulated" in message


def test_unknown_driver_beside_a_known_one_lists_every_known_one(tmp_path: Path) -> None:
    """Only the kinds a file uses are validated against; the message still lists them all."""
    text = DEVICE.format(n=0) + '[[devices]]\nid = "x"\ndriver = "zigbee"\n'
    [(key, message)] = problems(tmp_path, text)
    assert key == "devices[1]"
    for kind in ("simulated", "serial", "ble", "onewire"):
        assert repr(kind) in message


def test_a_file_loads_only_the_config_models_of_the_kinds_it_uses(tmp_path: Path) -> None:
    """A gateway of simulated sensors does not import (nor hold in memory) the BLE and serial
    config models; a fresh interpreter, as the daemon is."""
    config = write(tmp_path, GOOD)
    code = ("import sys; from pathlib import Path; from gateway.config import load_config; "
            f"load_config(Path({str(config)!r})); "
            "print(sorted(m for m in sys.modules if m.startswith('drivers.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).parents[1])
    loaded = done.stdout.strip()
    assert "drivers.simulated.config" in loaded
    assert "drivers.ble" not in loaded and "drivers.serial" not in loaded, loaded


def test_count_expansion_and_duplicates(tmp_path: Path) -> None:
    text = DEVICE.format(n=0) + "count = 3\n"
    settings = load_config(write(tmp_path, text))
    assert [d.id for d in settings.expanded_devices()] == ["d0-1", "d0-2", "d0-3"]
    clash = text + '[[devices]]\nid = "d0-2"\ndriver = "simulated"\nsensors = ["co2"]\n'
    assert ("devices[1].id", "duplicate device id 'd0-2' (also devices[0])") in problems(
        tmp_path, clash)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_toml_syntax_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(write(tmp_path, "[mqtt\nhost = 1"))


def test_env_overrides_keep_other_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSOR_GATEWAY_MQTT__HOST", "override.lan")
    monkeypatch.setenv("SENSOR_GATEWAY_MQTT__QOS", "0")
    monkeypatch.setenv("SENSOR_GATEWAY_GATEWAY__ID", "from-env")
    settings = load_config(write(tmp_path, GOOD))
    assert settings.mqtt.host == "override.lan"
    assert settings.mqtt.qos == 0
    assert settings.mqtt.port == 1883
    assert settings.gateway.id == "from-env"
    assert [d.id for d in settings.devices] == ["kitchen"]


def test_env_override_is_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENSOR_GATEWAY_MQTT__PORT", "99999")
    assert ("mqtt.port", "must be <= 65535") in problems(tmp_path, GOOD)


def test_password_from_file_and_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "mqtt.secret"
    secret.write_text("s3cr3t-from-file\n")
    settings = load_config(write(tmp_path, f"[mqtt]\nusername = 'u'\npassword_file = '{secret}'\n"))
    password = settings.mqtt.secret()
    assert password is not None
    assert password.get_secret_value() == "s3cr3t-from-file"
    monkeypatch.setenv("SENSOR_GATEWAY_MQTT__USERNAME", "u")
    monkeypatch.setenv("SENSOR_GATEWAY_MQTT__PASSWORD", "s3cr3t-from-env")
    settings = load_config(write(tmp_path, GOOD))
    password = settings.mqtt.secret()
    assert password is not None
    assert password.get_secret_value() == "s3cr3t-from-env"
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings.mqtt)


def test_unreadable_password_file(tmp_path: Path) -> None:
    found = problems(tmp_path, f"[mqtt]\nusername = 'u'\npassword_file = '{tmp_path}/missing'\n")
    assert found == [("mqtt.password_file", "cannot read: No such file or directory")]


def test_cli_check_prints_summary_without_secret(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('port = 1883', 'port = 1883\nusername = "u"\n'
                                       'password = "hunter2-secret"'))
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "kitchen" in result.stdout and "sensor-gateway/greenhouse/kitchen/humidity" in result.stdout
    assert "broker.lan:1883" in result.stdout and "password (hidden)" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def test_cli_config_error_exit_2_no_traceback_no_secret(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\npassword = "hunter2-secret"\nport = "not-a-port"\n'
                 + DEVICE.format(n=0) + "interval = 0\n")
    for command in ("check", "run"):
        result = run_cli(command, "--config", str(path))
        assert result.returncode == 2
        assert "mqtt.port" in result.stderr and "devices[0].interval: must be > 0" in result.stderr
        assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
        assert "not-a-port" not in result.stderr


def test_cli_check_refuses_a_password_without_username(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('port = 1883', 'port = 1883\npassword = "hunter2-secret"'))
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 2
    assert "mqtt.username: a password is set but no username" in result.stderr
    assert "hunter2" not in result.stdout + result.stderr and "Traceback" not in result.stderr


def test_cli_missing_config_exit_2(tmp_path: Path) -> None:
    result = run_cli("check", "--config", str(tmp_path / "absent.toml"))
    assert result.returncode == 2 and "config file not found" in result.stderr


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    result = run_cli("check", env={"SENSOR_GATEWAY_CONFIG": str(path)})
    assert result.returncode == 0 and str(path) in result.stdout


@pytest.mark.parametrize(("text", "key", "hint"), [
    (GOOD.replace('sensors = ["temperature", "humidity"]',
                  'sensors = ["temperature"]\nintervall = 2'), "devices[0].intervall",
     "did you mean 'interval'?"),
    (GOOD.replace("port = 1883", "prot = 1883"), "mqtt.prot", "did you mean 'port'?"),
    (GOOD.replace('"humidity"]', '{ name = "x", profil = "co2" }]'),
     "devices[0].sensors[1].profil", "did you mean 'profile'?"),
])
def test_unknown_key_suggests_the_closest(tmp_path: Path, text: str, key: str, hint: str) -> None:
    found = problems(tmp_path, text)
    assert any(k == key and m == f"unknown key; {hint}" for k, m in found), found


def test_unknown_key_far_from_any_gets_no_guess(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace("port = 1883", "zzzz = 1"))
    assert ("mqtt.zzzz", "unknown key") in found


@pytest.mark.parametrize(("kind", "old"), [
    ('driver = "simulated"\nsensors = ["co2"]', "stall_timeout"),
    ('driver = "serial"\nport = "/dev/null"\nprotocol = "json"', "stale_timeout"),
    ('driver = "ble"\naddress = "AA:BB:CC:DD:EE:FF"', "timeout"),
])
def test_old_silence_timeout_names_still_work(
    tmp_path: Path, kind: str, old: str, caplog: pytest.LogCaptureFixture
) -> None:
    text = f'[[devices]]\nid = "d"\n{kind}\n{old} = 42\n'
    settings = load_config(write(tmp_path, text))
    device = settings.devices[0]
    assert device.silence_timeout == 42
    assert f"'{old}' is now called 'silence_timeout'" in caplog.text
    both = problems(tmp_path, text + "silence_timeout = 5\n")
    assert (f"devices[0].{old}", "replaced by silence_timeout; give only silence_timeout") in both


SERVERS = GOOD.replace('host = "broker.lan"\nport = 1883', 'servers = {servers}')


def test_servers_replace_host_and_port(tmp_path: Path) -> None:
    path = write(tmp_path, SERVERS.format(servers='["a.lan:1883", "[::1]:8883", "10.0.0.9:1884"]'))
    mqtt = load_config(path).mqtt
    assert mqtt.addresses == (("a.lan", 1883), ("::1", 8883), ("10.0.0.9", 1884))
    assert mqtt.describe_servers() == "a.lan:1883, [::1]:8883, 10.0.0.9:1884"
    assert load_config(write(tmp_path, GOOD)).mqtt.addresses == (("broker.lan", 1883),)


@pytest.mark.parametrize(("servers", "error"), [
    ('["a.lan:1883", "b.lan"]', 'mqtt.servers[1]: must be host:port'),
    ('["a.lan:1883", "b.lan:0"]', 'mqtt.servers[1]: must be host:port'),
    ('["a.lan:1883", "a.lan:1883"]', "mqtt.servers: an entry appears twice"),
    ("[]", "mqtt.servers: must not be empty"),
])
def test_every_server_is_checked(tmp_path: Path, servers: str, error: str) -> None:
    path = write(tmp_path, SERVERS.format(servers=servers))
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 2 and error in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_servers_and_host_together_is_an_error(tmp_path: Path) -> None:
    text = GOOD.replace("port = 1883", 'port = 1883\nservers = ["a.lan:1883"]')
    assert ("mqtt.servers", "replaces host and port; set servers or host/port, not both") in (
        problems(tmp_path, text))


def test_check_lists_every_server(tmp_path: Path) -> None:
    path = write(tmp_path, SERVERS.format(servers='["a.lan:1883", "b.lan:1883"]'))
    result = run_cli("check", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert "broker: a.lan:1883, b.lan:1883 MQTT 3.1.1 qos 1" in result.stdout


@pytest.mark.parametrize(("mqtt", "error"), [
    ("protocol = 4", ("mqtt.protocol", "must be '3.1.1' or 5")),
    ('protocol = 5\nclient = "aiomqtt"', ("mqtt.protocol", 'MQTT 5 needs client = "lean"')),
    ("message_expiry = 60", ("mqtt.message_expiry", "an MQTT 5 feature; set protocol = 5")),
    ("session_expiry = 60", ("mqtt.session_expiry", "an MQTT 5 feature; set protocol = 5")),
    ("protocol = 5\nmessage_expiry = 0", ("mqtt.message_expiry", "must be >= 1")),
])
def test_mqtt5_options_are_checked(tmp_path: Path, mqtt: str, error: tuple[str, str]) -> None:
    assert error in problems(tmp_path, GOOD.replace("port = 1883", f"port = 1883\n{mqtt}"))


def test_check_names_the_protocol(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("port = 1883", "port = 1883\nprotocol = 5"))
    result = run_cli("check", "--config", str(path))
    assert "broker: broker.lan:1883 MQTT 5 qos 1" in result.stdout, result.stdout

"""deploy/: the unit's security score and validity, and install.sh really run into a temp root."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from support.components import require, which
from support.daemon import REPO
from support.wheels import build_wheels

from gateway import __version__

UNIT = REPO / "deploy" / "sensor-gateway.service"


def systemd_analyze() -> str:
    found = which("systemd-analyze")
    require("systemd-analyze", found is not None, "apt-get install systemd")
    assert found is not None
    return found


def unit_settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_unit_exposure_is_at_most_2() -> None:
    result = subprocess.run([systemd_analyze(), "security", "--offline=yes", str(UNIT)],
                            capture_output=True, text=True, check=False, timeout=60)
    match = re.search(r"Overall exposure level for sensor-gateway\.service: ([0-9.]+)",
                      result.stdout + result.stderr)
    assert match, result.stdout + result.stderr
    assert float(match[1]) <= 2.0, result.stdout


def test_unit_has_what_the_daemon_relies_on() -> None:
    unit = unit_settings(UNIT.read_text())
    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert unit["Restart"] == ["on-failure"] and int(unit["WatchdogSec"][0]) > 0
    assert unit["RestartPreventExitStatus"] == ["2"]  # a config error is not retried
    assert unit["User"] == ["sensor-gateway"]
    assert unit["SupplementaryGroups"] == ["dialout bluetooth"]
    assert unit["DevicePolicy"] == ["closed"]
    # USB serial by major (a name resolves only against the drivers loaded at start), ttyAMA,
    # and ttyS0-3 by major:minor (char-ttyS would let in the virtual consoles too).
    assert unit["DeviceAllow"] == ["char-188 rw", "char-166 rw", "char-204 rw",
                                   *(f"/dev/char/4:{minor} rw" for minor in range(64, 68))]
    assert "PrivateDevices" not in unit  # it would hide the serial ports
    assert unit["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]  # D-Bus is AF_UNIX
    assert unit["ProtectSystem"] == ["strict"] and unit["NoNewPrivileges"] == ["yes"]
    assert unit["StateDirectory"] == ["sensor-gateway"]
    assert unit["ConfigurationDirectory"] == ["sensor-gateway"]
    assert "--config /etc/sensor-gateway/config.toml" in unit["ExecStart"][0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as a wheel, built offline from a copy of the tree (the tree stays clean)."""
    return build_wheels(tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("src"),
                        dependencies=False)


def install(root: Path, wheel: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    require("systemd-sysusers", which("systemd-sysusers") is not None, "apt-get install systemd")
    result = subprocess.run(
        ["sh", str(REPO / "deploy" / "install.sh"), "--root", str(root), "--package", str(wheel),
         "--pip-args", "--no-deps --no-index", "--python", sys.base_prefix + "/bin/python3",
         *extra],
        capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_install_into_a_temp_root_is_idempotent_and_uninstalls(tmp_path: Path, wheel: Path) -> None:
    root = tmp_path / "root"
    first = install(root, wheel)
    assert "wrote a starter" in first.stdout
    unit = root / "etc/systemd/system/sensor-gateway.service"
    assert unit.read_text() == UNIT.read_text()
    assert (root / "etc/systemd/system/multi-user.target.wants/sensor-gateway.service").is_symlink()
    assert (root / "usr/lib/sysusers.d/sensor-gateway.conf").is_file()
    passwd = (root / "etc/passwd").read_text()
    assert re.search(r"^sensor-gateway:x:\d+:\d+:.*:/var/lib/sensor-gateway:/usr/sbin/nologin$",
                     passwd, re.MULTILINE)
    groups = (root / "etc/group").read_text()
    assert re.search(r"^dialout:x:\d+:sensor-gateway$", groups, re.MULTILINE)
    assert re.search(r"^bluetooth:x:\d+:sensor-gateway$", groups, re.MULTILINE)
    config = root / "etc/sensor-gateway/config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert stat.S_IMODE(config.parent.stat().st_mode) == 0o750
    venv_python = root / "opt/sensor-gateway/venv/bin/python"
    version = subprocess.run([str(venv_python), "-c", "import gateway; print(gateway.__version__)"],
                             capture_output=True, text=True, check=True, cwd=tmp_path)
    assert version.stdout.strip() == __version__
    assert (root / "opt/sensor-gateway/venv/bin/sensor-gateway").is_file()

    verify_installed_unit(root, tmp_path)

    config.write_text("# mine\n")
    second = install(root, wheel)
    assert "keeping the existing" in second.stdout and "creating the venv" not in second.stdout
    assert config.read_text() == "# mine\n"
    assert passwd == (root / "etc/passwd").read_text()  # no second user

    removed = subprocess.run(["sh", str(REPO / "deploy/install.sh"), "--root", str(root),
                              "--uninstall"], capture_output=True, text=True, check=False)
    assert removed.returncode == 0, removed.stderr
    assert not unit.exists() and not (root / "opt/sensor-gateway").exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/sensor-gateway.service").exists()
    assert config.read_text() == "# mine\n"  # configuration and state are kept


def verify_installed_unit(root: Path, tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the installed unit, its paths pointed into the temp root."""
    text = (root / "etc/systemd/system/sensor-gateway.service").read_text()
    copy = tmp_path / "verify" / "sensor-gateway.service"
    copy.parent.mkdir()
    copy.write_text(text.replace("/opt/sensor-gateway", str(root / "opt/sensor-gateway")))
    result = subprocess.run([systemd_analyze(), "verify", str(copy)], capture_output=True,
                            text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sensor-gateway.service" not in result.stderr, result.stderr  # no warnings about it

"""A port a device policy refuses (EPERM) is reported as such, with the line that allows it.

EPERM from a device cgroup cannot be produced on this machine outside a container (the real one
is in tests/ops/test_systemd_pid1.py, under systemd's DevicePolicy=); here the error is
handed to the message builder as pyserial raises it, for a real device node (a pty).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from drivers.serial import access
from drivers.serial.access import allow_lines, open_failure, probe_open

UNIT = "sensor-gateway.service"


@pytest.fixture
def pty() -> Iterator[str]:
    master, slave = os.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


@pytest.fixture
def under_systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As systemd starts the unit: $INVOCATION_ID set, the process in the unit's cgroup."""
    cgroup = tmp_path / "cgroup"
    cgroup.write_text(f"0::/system.slice/{UNIT}\n")
    monkeypatch.setenv("INVOCATION_ID", "0123456789abcdef0123456789abcdef")
    monkeypatch.setattr(access, "PROC_CGROUP", cgroup)


def pyserial_error(port: str, code: int) -> serial.SerialException:
    """What pyserial raises when open() fails (serialposix: errno and its own message)."""
    return serial.SerialException(code, f"could not open port {port}: [Errno {code}] "
                                        f"{os.strerror(code)}: '{port}'")


def numbers(port: str) -> str:
    rdev = os.stat(port).st_rdev
    return f"{os.major(rdev)}:{os.minor(rdev)}"


@pytest.mark.usefixtures("under_systemd")
def test_eperm_under_the_unit_names_it_and_the_exact_line(pty: str) -> None:
    text = open_failure(pty, pyserial_error(pty, errno.EPERM))
    assert text.startswith(f"Operation not permitted: refused by the device policy of {UNIT}")
    assert (f"sudo systemctl edit {UNIT}, add the lines \"[Service]\" and "
            f"\"DeviceAllow=/dev/char/{numbers(pty)} rw\", then sudo systemctl restart {UNIT}"
            in text)
    assert "char-" not in text  # ptys (major 136, "pts") are no serial driver of their own


@pytest.mark.usefixtures("under_systemd")
def test_a_serial_driver_of_its_own_is_offered_whole(
    pty: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # /proc/devices as the kernel lays it out, with an out-of-tree USB serial driver holding
    # the major this machine's ptys have (no such driver is loaded here).
    major = numbers(pty).split(":")[0]
    devices = tmp_path / "devices"
    devices.write_text(f"Character devices:\n  1 mem\n  4 tty\n  4 ttyS\n{major:>3} ttyXRUSB\n"
                       "\nBlock devices:\n  8 sd\n")
    monkeypatch.setattr(access, "PROC_DEVICES", devices)
    assert allow_lines(pty) == [f"DeviceAllow=/dev/char/{numbers(pty)} rw",
                                "DeviceAllow=char-ttyXRUSB rw"]
    assert '(or "DeviceAllow=char-ttyXRUSB rw" for every port of that driver)' in open_failure(
        pty, pyserial_error(pty, errno.EPERM))


def test_shared_and_non_serial_majors_are_never_offered_whole() -> None:
    # /dev/tty is major 5 (with /dev/console, /dev/ptmx); /dev/null is major 1 ("mem", with
    # /dev/mem): a char- line for them would open far more than a serial port.
    assert allow_lines("/dev/tty") == ["DeviceAllow=/dev/char/5:0 rw"]
    assert allow_lines("/dev/null") == ["DeviceAllow=/dev/char/1:3 rw"]
    assert allow_lines("/nonexistent") == []


def test_eperm_outside_systemd_says_a_device_policy_refused_it(
    pty: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    text = open_failure(pty, OSError(errno.EPERM, os.strerror(errno.EPERM)))
    assert text == (f"Operation not permitted: a device policy refused it (a container's or a "
                    f"service's device cgroup); allow its device number (/dev/char/"
                    f"{numbers(pty)} rw) there")


@pytest.mark.usefixtures("under_systemd")
def test_other_errors_keep_their_own_reason(pty: str) -> None:
    denied = pyserial_error(pty, errno.EACCES)
    assert open_failure(pty, denied) == f"could not open port {pty}: [Errno 13] Permission " \
                                        f"denied: '{pty}'"
    missing = OSError(errno.ENOENT, "No such file or directory")
    assert open_failure("/dev/ttyUSB9", missing) == "No such file or directory"


def test_probe_open_says_why_a_port_does_not_open(pty: str, tmp_path: Path) -> None:
    assert probe_open(pty) == ""
    assert probe_open(str(tmp_path / "gone")) == "No such file or directory"

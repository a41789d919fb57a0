from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.blemock import bluez_mock, bluez_tools
from support.broker import Mosquitto

# bluez_mock / bluez_tools: a mocked BlueZ on a private D-Bus (support/blemock.py).
__all__ = ["bluez_mock", "bluez_tools", "mosquitto", "own_mosquitto"]


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One real broker for the session. Tests must use their own topic roots."""
    with Mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture
def own_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker this test may stop, kill or pause."""
    broker = Mosquitto(tmp_path / "broker")
    try:
        yield broker.start()
    finally:
        broker.stop()


# --- no test leaves a process behind ------------------------------------------------------------

LEAK_GRACE = 5.0  # seconds for children that are on their way out


def _children() -> dict[int, str]:
    """The running (not zombie) child processes of this pytest process: pid -> command line."""
    me = str(os.getpid())
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[1] == me and fields[0] != "Z":
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(
                    b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue  # it exited meanwhile
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After every fixture is torn down: a child process still running is a leak (a test
    that started it and did not stop it). It is killed, and the run fails naming it."""
    deadline = time.monotonic() + LEAK_GRACE
    while (left := _children()) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not left:
        return
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    names = "\n  ".join(f"{pid}: {cmd[:200]}" for pid, cmd in left.items())
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"LEAKED PROCESSES (killed now):\n  {names}", red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED

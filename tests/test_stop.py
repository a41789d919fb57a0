"""Stop means stop (#17): every long-running command ends promptly with exit status 0 on SIGINT
or SIGTERM, at start-up and later, even when it was started with SIGINT *ignored*, as a
non-interactive shell starts a background job (``cmd &`` in a script, CI wrappers, nohup).

Real processes, real signals; the simulators' pseudo-terminals and temp dirs must be gone after.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.broker import Mosquitto
from support.daemon import REPO, base_config, simulated, write_config

from drivers.serial.simulator import PROTOCOLS

STOP_WITHIN = 5.0  # seconds; the promise is 2 s, the margin is for a loaded CI machine
SIGINT_BIT = 1 << (signal.SIGINT - 1)


# What a non-interactive shell does to a background job: SIGINT ignored, then exec (same PID,
# and an ignored disposition survives exec). The shell catches nothing itself, so SigCgt only
# shows SIGINT once the gateway has installed its own handler.
IGNORING_SIGINT = ["/bin/sh", "-c", 'trap "" INT; exec "$@"', "sh"]


def _caught(pid: int) -> bool:
    """Has the process installed its own SIGINT handler yet?"""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & SIGINT_BIT)
    return False


def _wait(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def _start(*args: str) -> tuple[subprocess.Popen[bytes], Path]:
        out = tmp_path / f"out{len(procs)}.log"
        with out.open("wb") as sink:
            proc = subprocess.Popen(
                [*IGNORING_SIGINT, sys.executable, "-m", "gateway", *args], stdout=sink,
                stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
        procs.append(proc)
        return proc, out

    yield _start
    for proc in procs:  # never leak a process, whatever the test's outcome
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _stop(proc: subprocess.Popen[bytes], signum: int) -> float:
    began = time.monotonic()
    proc.send_signal(signum)
    try:
        code = proc.wait(STOP_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_WITHIN}s after {signal.Signals(signum).name}")
    assert code == 0, f"exit status {code} after {signal.Signals(signum).name}"
    return time.monotonic() - began


def _at(proc: subprocess.Popen[bytes], out: Path, moment: str, ready: str) -> None:
    """Wait for the moment to send the signal."""
    if moment == "start-up":  # our first line ran: the imports and the set-up are still ahead
        _wait(lambda: _caught(proc.pid), 20, "the SIGINT handler")
    else:
        _wait(lambda: ready in out.read_text(errors="replace"), 30, repr(ready))


SIGNALS = [signal.SIGINT, signal.SIGTERM]
MOMENTS = ["start-up", "running"]


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", MOMENTS)
def test_simulate_serial_stops_and_cleans_up(start: object, tmp_path: Path, protocol: str,
                                             signum: int, moment: str) -> None:
    assert callable(start)
    link = tmp_path / "dev" / "ttySIM0"
    proc, out = start("simulate", "serial", "--protocol", protocol, "--link", str(link))
    _at(proc, out, moment, "config for it")
    _stop(proc, signum)
    assert not link.exists() and not link.is_symlink()  # no dangling link left behind


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_simulate_serial_removes_its_own_temp_dir(start: object, signum: int) -> None:
    assert callable(start)
    proc, out = start("simulate", "serial", "--protocol", "nmea")
    _at(proc, out, "running", "config for it")
    link = Path(out.read_text().split('port = "', 1)[1].split('"', 1)[0])
    assert link.is_symlink()
    _stop(proc, signum)
    assert not link.parent.exists()


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", MOMENTS)
def test_scan_ble_stops(start: object, signum: int, moment: str) -> None:
    assert callable(start)
    proc, out = start("scan", "ble", "--adapter", "simulated", "--seconds", "600")
    _at(proc, out, "start-up", "")
    if moment == "running":
        time.sleep(1.5)  # the fault's timing: in the middle of the scan
    _stop(proc, signum)


@pytest.mark.parametrize("signum", SIGNALS, ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", MOMENTS)
def test_the_daemon_and_monitor_stop(start: object, tmp_path: Path, mosquitto: Mosquitto,
                                     signum: int, moment: str) -> None:
    assert callable(start)
    config = write_config(tmp_path / "config.toml",
                          base_config(mosquitto.port, "stop") + simulated("s", 0.1))
    daemon, out = start("run", "--config", str(config))
    monitor, monitor_out = start("monitor", "--plain", "--config", str(config))
    _at(daemon, out, moment, "running:")
    if moment == "running":
        _wait(lambda: "s/temperature = " in monitor_out.read_text(), 30, "the monitor")
    else:
        _at(monitor, monitor_out, moment, "")
    _stop(monitor, signum)
    _stop(daemon, signum)
    if moment == "running":
        assert f"{signal.Signals(signum).name} received" in out.read_text()

"""The service under a real systemd as PID 1.

Debian 12 (systemd 252) booted with ``systemd-nspawn -b`` on a cached debootstrap root filesystem
(support/nspawn.py), the project installed inside with ``deploy/install.sh`` from wheels built
here (offline inside), Debian's Mosquitto on the container's own loopback. The tests share one
booted container and run in file order; each one sets the configuration it needs first.

Nothing is mocked. The one stand-in is the hardware: a USB serial adapter is a character device
node with the USB serial drivers' major made after the service started (this kernel has no
usb-serial driver loaded, exactly the case of an adapter whose driver loads after the service),
and a serial sensor is a pseudo-terminal. How to run it by hand: docs/operations/systemd-test.md.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from support.nspawn import Container, cached_rootfs, eventually, require_tools
from support.wheels import build_wheels

# The first test also builds the root filesystem when the cache has none (about a minute here),
# the wheels and the install (half a minute); the watchdog test waits out WatchdogSec=30.
pytestmark = pytest.mark.timeout(900)

UNIT = "sensor-gateway"
CONFIG = "/etc/sensor-gateway/config.toml"
STATE = "/var/lib/sensor-gateway"
STAGE = "/mnt/sensor-gateway"
ROOT = "sensor-gateway/box"
STATUS_LINE = re.compile(r"^(\d+)/(\d+) devices online, (\d+) readings(?:/min| so far), buffer (\d+), "
                         r"(connected|connecting|broker unavailable)$")


@dataclass
class Box:
    container: Container
    install_log: str

    def run(self, *argv: str, timeout: float = 60, check: bool = True) -> str:
        return self.container.run(argv, timeout=timeout, check=check).stdout

    def show(self, prop: str, unit: str = UNIT) -> str:
        return self.run("systemctl", "show", "--value", "-p", prop, unit).strip()

    def cursor(self) -> str:
        out = self.run("journalctl", "--show-cursor", "-n", "0", "--no-pager")
        return out.rsplit("-- cursor: ", 1)[1].strip()

    def journal(self, after: str, unit: str = UNIT) -> str:
        return self.run("journalctl", "-u", unit, f"--after-cursor={after}", "-o", "cat",
                        "--no-pager")

    def logged(self, after: str, pattern: str, timeout: float = 20) -> None:
        """Wait until the unit's journal since ``after`` has a line matching ``pattern``."""
        found = re.compile(pattern, re.MULTILINE)
        try:
            eventually(lambda: found.search(self.journal(after)), timeout, f"the journal: {pattern}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; it says:\n{self.journal(after)[-3000:]}") from None

    def subscribe(self, topic: str, count: int, wait: int, *extra: str) -> list[str]:
        """Up to ``count`` messages on ``topic`` (``topic payload`` lines) within ``wait`` s."""
        out = self.run("mosquitto_sub", "-h", "127.0.0.1", "-t", topic, "-v", "-C", str(count),
                       "-W", str(wait), *extra, timeout=wait + 30, check=False)
        return out.splitlines()

    def configure(self, text: str) -> None:
        """Write the config and (re)start the service with it; wait until it is up and connected."""
        self.container.write(CONFIG, text, mode="0640", owner="root:sensor-gateway")
        self.run("systemctl", "reset-failed", UNIT, check=False)
        self.run("systemctl", "restart", UNIT, timeout=90)
        self.status(lambda m: m[5] == "connected", "connected")

    def status(self, accept: Callable[[re.Match[str]], bool], what: str,
               timeout: float = 30) -> re.Match[str]:
        """Wait for a STATUS= line that matches the format and ``accept(match)``."""

        def check() -> re.Match[str] | None:
            match = STATUS_LINE.match(self.show("StatusText"))
            return match if match and accept(match) else None
        return eventually(check, timeout, f"STATUS= {what} (last: {self.show('StatusText')!r})")


def config(*devices: str, extra: str = "") -> str:
    return (f'[gateway]\nid = "box"\nrestart_delay_max = 1.0\n{extra}\n'
            '[mqtt]\nhost = "127.0.0.1"\nreconnect_delay_max = 2.0\n\n' + "\n".join(devices))


def simulated(device_id: str, interval: float = 0.5, sensors: str = '["temperature"]') -> str:
    return (f'[[devices]]\nid = "{device_id}"\ndriver = "simulated"\ninterval = {interval}\n'
            f"sensors = {sensors}\n")


def serial(device_id: str, port: str) -> str:
    return f'[[devices]]\nid = "{device_id}"\ndriver = "serial"\nport = "{port}"\nprotocol = "json"\n'


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Box]:
    require_tools()
    stage = tmp_path_factory.mktemp("stage")
    wheel = build_wheels(stage / "wheels", stage, dependencies=True)  # tree copied to stage/src
    rootfs = cached_rootfs()
    log = tmp_path_factory.mktemp("console") / "console.log"
    with Container(rootfs, log, binds={stage: STAGE}) as container:
        installed = container.run(
            ["sh", f"{STAGE}/src/deploy/install.sh", "--source", f"{STAGE}/src",
             "--package", f"{STAGE}/wheels/{wheel.name}",
             "--pip-args", f"--no-index --find-links {STAGE}/wheels"], timeout=300)
        yield Box(container, installed.stdout + installed.stderr)


def test_installed_service_is_active_with_status_readings_and_hardening(box: Box) -> None:
    assert "wrote a starter /etc/sensor-gateway/config.toml" in box.install_log, box.install_log
    assert "started" in box.install_log
    assert box.run("stat", "-c", "%U:%G %a", CONFIG).strip() == "root:sensor-gateway 640"
    # The starter config as installed: one simulated device, Mosquitto on localhost.
    box.status(lambda m: m[1] == m[2] == "1" and m[5] == "connected", "1/1 online, connected")
    assert box.show("ActiveState") == "active" and box.show("SubState") == "running"
    reading = box.subscribe("sensor-gateway/+/demo/temperature", 1, 30)
    assert reading, "no reading from the starter config's demo device"
    assert "value" in json.loads(reading[0].split(" ", 1)[1])

    pid = box.show("MainPID")
    status = box.run("cat", f"/proc/{pid}/status")
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.MULTILINE)
    assert re.search(r"^CapEff:\s+0+$", status, re.MULTILINE)
    assert re.search(r"^Seccomp:\s+2$", status, re.MULTILINE)
    uid = box.run("id", "-u", "sensor-gateway").strip()
    assert re.search(rf"^Uid:\s+{uid}\s", status, re.MULTILINE)
    root_mount = [line.split() for line in box.run("cat", f"/proc/{pid}/mountinfo").splitlines()
                  if line.split()[4] == "/"]
    assert root_mount and root_mount[-1][5].split(",")[0] == "ro", root_mount  # ProtectSystem

    security = box.run("systemd-analyze", "security", "--no-pager", f"{UNIT}.service",
                       check=False)
    exposure = re.search(r"Overall exposure level for sensor-gateway\.service: ([0-9.]+)",
                         security)
    assert exposure and float(exposure[1]) <= 2.0, security


def test_reload_applies_new_devices_in_the_same_process(box: Box) -> None:
    box.configure(config(simulated("sim")))
    box.status(lambda m: m[1] == m[2] == "1", "1/1 devices online")
    pid = box.show("MainPID")
    cursor = box.cursor()
    box.container.write(CONFIG, config(simulated("sim"), simulated("added")), mode="0640",
                        owner="root:sensor-gateway")
    box.run("systemctl", "reload", UNIT, timeout=60)
    assert box.show("MainPID") == pid
    assert box.subscribe(f"{ROOT}/added/temperature", 1, 20), "no reading from the new device"
    box.status(lambda m: m[1] == m[2] == "2", "2/2 devices online")
    assert box.show("ActiveState") == "active"
    assert "reloaded: " in box.journal(cursor)


def test_watchdog_restarts_a_stopped_daemon(box: Box) -> None:
    box.configure(config(simulated("sim")))
    pid = box.show("MainPID")
    restarts = int(box.show("NRestarts"))
    cursor = box.cursor()
    box.run("kill", "-STOP", pid)
    # WatchdogSec=30 from the last ping (every 15 s), SIGABRT (stacks dumped), RestartSec=5.
    eventually(lambda: box.show("MainPID") not in ("0", pid) and box.show("SubState") == "running",
               75, "a new main process after the watchdog timeout")
    assert int(box.show("NRestarts")) == restarts + 1
    journal = box.journal(cursor)
    assert "Watchdog timeout" in journal, journal
    assert "Fatal Python error: Aborted" in journal, journal  # faulthandler's stacks
    box.status(lambda m: m[5] == "connected", "connected again")


def test_stop_leaves_offline_retained(box: Box) -> None:
    box.configure(config(simulated("sim")))
    box.run("systemctl", "stop", UNIT, timeout=60)
    assert box.show("ActiveState") == "inactive"
    assert box.show("Result") == "success"
    retained = box.subscribe(f"{ROOT}/status", 1, 5)
    assert retained == [f"{ROOT}/status offline"]


def test_config_error_exits_2_without_a_restart_loop(box: Box) -> None:
    box.configure(config(simulated("sim")))
    restarts = int(box.show("NRestarts"))
    cursor = box.cursor()
    box.container.write(CONFIG, config(simulated("sim"), extra="bogus_key = 1"), mode="0640",
                        owner="root:sensor-gateway")
    box.run("systemctl", "restart", UNIT, timeout=60, check=False)
    assert box.show("ActiveState") == "failed"
    assert box.show("ExecMainStatus") == "2" and box.show("Result") == "exit-code"
    deadline = time.monotonic() + 8  # RestartSec=5: a restart would have happened by now
    while time.monotonic() < deadline:
        assert box.show("ActiveState") == "failed"
        assert int(box.show("NRestarts")) == restarts
        time.sleep(0.5)
    journal = box.journal(cursor)
    assert "gateway.bogus_key" in journal, journal
    assert "Traceback" not in journal


def test_disk_outbox_under_the_hardening_survives_a_restart(box: Box) -> None:
    outbox = f"{STATE}/outbox.sqlite"
    box.configure(config(simulated("sim"), extra="") + f'\n[buffer]\npath = "{outbox}"\n')
    topic = f"{ROOT}/sim/temperature"
    client = ("-c", "-i", "outbox-test", "-q", "1")  # a persistent session: the broker keeps
    assert box.subscribe(topic, 1, 10, *client)  # what arrives while it is away
    box.run("systemctl", "stop", "mosquitto")
    outage = time.time()
    box.status(lambda m: m[5] != "connected" and int(m[4]) >= 4, "readings held, no broker")
    box.run("systemctl", "restart", UNIT, timeout=90)  # held readings must survive this
    restarted = time.time()
    assert box.run("stat", "-c", "%U %a", outbox).split()[0] == "sensor-gateway"
    box.status(lambda m: int(m[4]) >= 4, "the outbox reloaded")
    box.run("systemctl", "start", "mosquitto")
    box.status(lambda m: m[4] == "0" and m[5] == "connected", "the outbox delivered", timeout=60)
    delivered = box.subscribe(topic, 1000, 5, *client)
    stamps = [_epoch(json.loads(line.split(" ", 1)[1])["ts"]) for line in delivered]
    held = [ts for ts in stamps if outage < ts < restarted]
    assert held, f"no reading from the outage before the restart among {len(stamps)} delivered"


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


PTY_SENSOR = """
import grp, os, select, sys, time, tty
master, slave = os.openpty()
tty.setraw(slave)
name = os.ttyname(slave)
os.chown(name, -1, grp.getgrnam("dialout").gr_gid)  # what udev gives a serial port
os.chmod(name, 0o660)
os.symlink(name, sys.argv[1] + ".new")
os.rename(sys.argv[1] + ".new", sys.argv[1])
print(name, flush=True)
os.set_blocking(master, False)
deadline = time.monotonic() + 120
i = 0
while time.monotonic() < deadline:
    if select.select([sys.stdin], [], [], 0.2)[0] and not sys.stdin.readline():
        break
    try:
        os.write(master, b'{"temperature": %d.5}\\n' % (20 + i % 5))
    except BlockingIOError:
        pass
    i += 1
os.unlink(sys.argv[1])
"""


def test_serial_ports_created_after_start_reachable_or_refused_as_designed(box: Box) -> None:
    """Ports appear after the service started. Reachable: a pty (systemd always allows ptys),
    USB serial (majors 188 ttyUSB, 166 ttyACM) and ttyAMA (204) nodes, although no driver for
    them is loaded (so the kernel answers ENXIO: the device policy let the open through).
    Refused by the device policy (EPERM): a virtual console (major 4, minor 63), although its
    file mode lets the service user in; the daemon says so, and which line would allow it.
    Each new cause of a device still offline is a warning in the journal."""
    ports = {"usb": ("/dev/ttyUSB7", "188 7"), "acm": ("/dev/ttyACM3", "166 3"),
             "ama": ("/dev/ttyAMA0", "204 64"), "console": ("/dev/tty63", "4 63")}
    devices = [serial(name, port) for name, (port, _) in ports.items()]
    box.configure(config(*devices, serial("pty", "/dev/ttyHOTPLUG")))
    try:
        cursor = box.cursor()
        for port, numbers in ports.values():
            box.run("mknod", "-m", "0660", port, "c", *numbers.split())
            box.run("chgrp", "dialout", port)
        sensor = box.container.spawn(["python3", "-c", PTY_SENSOR, "/dev/ttyHOTPLUG"])
        try:
            assert box.subscribe(f"{ROOT}/pty/temperature", 1, 20), "no reading from the pty"
            for name in ("usb", "acm", "ama"):
                box.logged(cursor, rf"\[{name}\] still offline, now: .*cannot open "
                           rf"{ports[name][0]}: .*No such device or address")
            box.logged(cursor, r"\[console\] still offline, now: .*cannot open /dev/tty63: "
                       r"Operation not permitted: refused by the device policy of "
                       r"sensor-gateway\.service .*sudo systemctl edit sensor-gateway\.service, "
                       r'add the lines "\[Service\]" and "DeviceAllow=/dev/char/4:63 rw"')
            journal = box.journal(cursor)
            for name in ("usb", "acm", "ama"):
                assert not re.search(rf"cannot open {ports[name][0]}: .*Operation not permitted",
                                     journal), journal
        finally:
            assert sensor.stdin is not None
            sensor.stdin.close()
            sensor.wait(timeout=10)
    finally:
        box.run("rm", "-f", *(port for port, _ in ports.values()))


def test_no_system_call_was_refused_by_the_filter_during_the_run(box: Box) -> None:
    """SystemCallFilter= answers EPERM (SystemCallErrorNumber=); a call outside it that killed
    the process would show as SIGSYS. Last in the file: it reads the journal of every run above."""
    journal = box.run("journalctl", "--no-pager", "-o", "cat", "-u", UNIT)
    assert "Started sensor-gateway.service" in journal
    assert not re.search(r"status=31/SYS|SIGSYS|Bad system call", journal), journal

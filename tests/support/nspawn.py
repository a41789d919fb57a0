"""A Debian 12 root filesystem booted with systemd as PID 1 (``systemd-nspawn -b``).

The root filesystem is built once with ``debootstrap`` from the distribution's packages (the
mirror is the one this machine's apt uses) and cached outside the repository, under
``/var/cache/sensor-gateway`` (``$SENSOR_GATEWAY_CACHE`` overrides). The cache is keyed by
everything that goes into it (suite, architecture, packages, setup steps), so a change to any of
them builds a new one, and one older than :data:`MAX_AGE` is rebuilt (point releases move on).

Each boot runs on a throw-away overlay (``--volatile=overlay``): the cached tree is never
changed. The container has its own network namespace (only ``lo``), so its Mosquitto on
127.0.0.1:1883 is its own. Commands run inside through ``nsenter`` into the container's
namespaces (``--register=no`` leaves no machined registration for ``machinectl shell``).

How to run it by hand: docs/operations/systemd-test.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from support.components import require, which

__all__ = ["MAX_AGE", "Container", "cached_rootfs", "eventually", "require_tools"]

T = TypeVar("T")

SUITE = "bookworm"
# procps: /bin/kill (ExecReload=); Priority important, on every Pi OS and Debian system.
PACKAGES = ("systemd-sysv", "dbus", "procps", "python3", "python3-venv", "mosquitto",
            "mosquitto-clients")
HOSTNAME = "sg-test"
# Bump when the setup after debootstrap changes: the cache key includes it.
SETUP_VERSION = 1
MAX_AGE = 30 * 24 * 3600.0
STAMP = ".sensor-gateway-rootfs"
# What a command inside sees: a clean environment, not the test runner's.
INSIDE_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "TERM=dumb")


def require_tools() -> dict[str, str]:
    """debootstrap, systemd-nspawn and nsenter, as root: fail under CI, skip elsewhere."""
    require("root", os.geteuid() == 0, "systemd-nspawn and debootstrap need root: run as root")
    found = {name: which(name, "/usr/sbin", "/sbin") for name in
             ("debootstrap", "systemd-nspawn", "nsenter", "dpkg")}
    for name, path in found.items():
        require(name, path is not None, "apt-get install debootstrap systemd-container")
    return {name: path for name, path in found.items() if path is not None}


def eventually(check: Callable[[], T | None], timeout: float, what: str,
               interval: float = 0.5) -> T:
    """Poll ``check`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(interval)


# --- the cached root filesystem -------------------------------------------------------------

def cache_root() -> Path:
    return Path(os.environ.get("SENSOR_GATEWAY_CACHE", "/var/cache/sensor-gateway"))


def architecture(tools: dict[str, str]) -> str:
    return subprocess.run([tools["dpkg"], "--print-architecture"], capture_output=True,
                          text=True, check=True).stdout.strip()


def rootfs_key(arch: str) -> str:
    recipe = repr((SUITE, arch, sorted(PACKAGES), HOSTNAME, SETUP_VERSION))
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses for the suite (``$SENSOR_GATEWAY_DEBIAN_MIRROR``
    overrides); nothing is hard-wired here."""
    override = os.environ.get("SENSOR_GATEWAY_DEBIAN_MIRROR")
    if override:
        return override
    listed = subprocess.run(
        ["apt-get", "indextargets", "--format", "$(RELEASE) $(REPO_URI)", "Origin: Debian"],
        capture_output=True, text=True, check=False, timeout=60).stdout.split("\n")
    uris = [line.split()[1] for line in listed if line.split()[:1] == [SUITE]]
    if not uris:
        raise AssertionError(f"no Debian {SUITE} source in apt's lists (run apt-get update, or "
                             "set SENSOR_GATEWAY_DEBIAN_MIRROR)")
    return uris[0]


def cached_rootfs() -> Path:
    """The Debian root filesystem, built (and cached) if there is no fresh one."""
    tools = require_tools()
    cache = cache_root()
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"rootfs-{SUITE}-{architecture(tools)}-{rootfs_key(architecture(tools))}"
    with _locked(cache / ".lock"):
        stamp = path / STAMP
        if stamp.exists() and time.time() - stamp.stat().st_mtime < MAX_AGE:
            return path
        for old in [*cache.glob(f"rootfs-{SUITE}-*"), *cache.glob(".building-*")]:
            shutil.rmtree(old)  # stale (other keys, too old) or a build that was interrupted
        building = cache / f".building-{os.getpid()}"
        _debootstrap(tools["debootstrap"], building, cache / "debootstrap.log")
        _set_up(building)
        (building / STAMP).write_text(f"{path.name}\n")
        building.rename(path)
    return path


@contextlib.contextmanager
def _locked(lock: Path) -> Iterator[None]:
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # another run building the same tree: wait for it
        yield


def _debootstrap(debootstrap: str, target: Path, log: Path) -> None:
    with log.open("w") as out:
        result = subprocess.run(
            [debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE,
             str(target), debian_mirror()],
            stdout=out, stderr=subprocess.STDOUT, check=False, timeout=600)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise AssertionError(f"debootstrap failed ({result.returncode}), see {log}:\n{tail}")


def _set_up(root: Path) -> None:
    """What a fresh Pi image also has: a hostname; and no apt timers firing during a test."""
    (root / "etc/hostname").write_text(f"{HOSTNAME}\n")
    (root / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {HOSTNAME}\n")
    subprocess.run(["systemctl", f"--root={root}", "mask", "apt-daily.timer",
                    "apt-daily-upgrade.timer", "e2scrub_all.timer", "e2scrub_reap.service"],
                   capture_output=True, check=True, timeout=60)
    subprocess.run(["chroot", str(root), "apt-get", "clean"], capture_output=True, check=True,
                   timeout=120)


# --- the booted container -------------------------------------------------------------------

class Container:
    """``systemd-nspawn -b`` on an overlay of ``rootfs``; a context manager that powers it off."""

    def __init__(self, rootfs: Path, log: Path, binds: dict[Path, str] | None = None) -> None:
        self.tools = require_tools()
        self.rootfs = rootfs
        self.log = log
        self.binds = binds or {}
        self.name = f"sg-test-{os.getpid()}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.leader = 0  # the container's PID 1, as the host sees it

    def command(self) -> list[str]:
        # --system-call-filter=bpf: without bpf() systemd cannot attach its device-policy
        # programs and silently ignores DevicePolicy=/DeviceAllow=. --register=no --keep-unit:
        # no machined or host systemd needed. --private-network: the container's own loopback.
        return [self.tools["systemd-nspawn"], "--quiet", f"--directory={self.rootfs}",
                "--volatile=overlay", "--register=no", "--keep-unit",
                "--system-call-filter=bpf", "--private-network", f"--machine={self.name}",
                "--console=read-only",
                *(f"--bind-ro={host}:{inside}" for host, inside in self.binds.items()), "--boot"]

    def __enter__(self) -> Container:
        env = {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, env=env)
        try:
            self.leader = eventually(self._find_leader, 30, "the container's PID 1 to appear",
                                     interval=0.1)
            self._wait_booted()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _find_leader(self) -> int | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"systemd-nspawn exited {self.proc.returncode}:\n"
                                 f"{self.console_tail()}")
        for child in _children(self.proc.pid):
            if _namespace_pid(child) == 1:
                return child
        return None

    def _wait_booted(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        state = "offline"
        while state in ("offline", "") and time.monotonic() < deadline:  # PID 1 not up yet
            time.sleep(0.2)
            state = self.run(["systemctl", "is-system-running", "--wait"], check=False,
                             timeout=max(1.0, deadline - time.monotonic())).stdout.strip()
        if state not in ("running", "degraded"):
            raise AssertionError(f"the container did not boot: {state}\n{self.console_tail()}")
        if state == "degraded":  # booted, but say what failed: a test may depend on it
            failed = self.run(["systemctl", "--failed", "--no-legend"], check=False).stdout
            print(f"container booted degraded; failed units:\n{failed}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # nspawn asks the container's systemd to halt
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.leader, signal.SIGKILL)  # ends the whole PID namespace
            self.proc.kill()
            self.proc.wait(timeout=30)
        # nspawn leaves this (empty) directory behind where /run is not a tmpfs
        with contextlib.suppress(OSError):
            os.rmdir(f"/run/systemd/nspawn/propagate/{self.name}")

    def console_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def _inside(self, argv: Sequence[str]) -> list[str]:
        return [self.tools["nsenter"], f"--target={self.leader}", "--all", "env", "-i",
                *INSIDE_ENV, *argv]

    def run(self, argv: Sequence[str], *, input: str | None = None, timeout: float = 60,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside the container (as root) and wait for it."""
        result = subprocess.run(self._inside(argv), input=input, capture_output=True, text=True,
                                timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def spawn(self, argv: Sequence[str]) -> subprocess.Popen[str]:
        """Start a command inside; it must end by itself when its stdin closes."""
        return subprocess.Popen(self._inside(argv), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def write(self, path: str, text: str, mode: str = "0644", owner: str = "root:root") -> None:
        script = f'mkdir -p "${{0%/*}}" && cat > "$0" && chmod {mode} "$0" && chown {owner} "$0"'
        self.run(["sh", "-c", script, path], input=text)


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError):
        return [int(child) for child in children.read_text().split()]
    return []


def _namespace_pid(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    return None

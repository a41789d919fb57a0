"""A real Mosquitto on a free loopback port, that tests can stop, kill, pause and restart;
one configured with extra lines (limits, ACLs, password files); amqtt in its own process."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from support.components import require, which


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mosquitto_binary() -> str:
    found = which("mosquitto", "/usr/sbin", "/usr/local/sbin")
    require("mosquitto", found is not None, "apt-get install mosquitto")
    assert found is not None
    return found


def wait_port(port: int, timeout: float = 10.0, *, up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.02)
    raise TimeoutError(f"port {port} not {'up' if up else 'down'} after {timeout}s")


class Mosquitto:
    """One broker process. ``persistence`` keeps sessions and queued messages across restarts."""

    def __init__(self, workdir: Path, port: int | None = None, *, persistence: bool = False):
        self.workdir = workdir
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.persistence = persistence
        self.proc: subprocess.Popen[bytes] | None = None
        self.binary = mosquitto_binary()
        workdir.mkdir(parents=True, exist_ok=True)

    def _write_conf(self) -> Path:
        conf = self.workdir / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "max_queued_messages 1000000",
            "max_inflight_messages 0",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.workdir}/",
            "autosave_interval 1",
            f"log_dest file {self.workdir}/mosquitto.log",
            # Started as root, Mosquitto drops to its own user, which cannot enter the test's
            # private temp dir: no log, and persistence silently not written. Stay this user.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
        ]
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> Mosquitto:
        conf = self._write_conf()
        self.proc = subprocess.Popen([self.binary, "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(self.port)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def mosquitto(tmp_path: Path, *lines: str) -> Iterator[int]:
    """A Mosquitto 2 with the given extra configuration lines; yields its port."""
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("\n".join([f"listener {port} 127.0.0.1", "allow_anonymous true",
                               f"user {pwd.getpwuid(os.getuid()).pw_name}", *lines]) + "\n")
    proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def password_file(path: Path, user: str, password: str) -> Path:
    path.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", str(path), user, password], check=True,
                   capture_output=True)
    return path


@contextlib.contextmanager
def amqtt_broker(subscribe_acl: dict[str, list[str]] | None = None) -> Iterator[int]:
    """amqtt (MQTT 3.1.1 only) in its own process; yields its port. ``subscribe_acl``: the
    topic filters each user (``anonymous`` without credentials) may subscribe to; the rest is
    answered with SUBACK 0x80."""
    port = free_port()
    config: dict[str, object] = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]}}
    if subscribe_acl is not None:
        config["topic-check"] = {"enabled": True, "plugins": ["topic_acl"], "acl": subscribe_acl}
    script = ("import asyncio, warnings\nfrom amqtt.broker import Broker\n"
              "warnings.simplefilter('ignore')\n"
              "async def main():\n"
              f"    b = Broker({config!r})\n"
              "    await b.start()\n    await asyncio.Event().wait()\nasyncio.run(main())\n")
    broker = subprocess.Popen([sys.executable, "-c", script],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, 30)
        yield port
    finally:
        broker.terminate()
        broker.wait(10)

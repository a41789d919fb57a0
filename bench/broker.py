"""The bench's own Mosquitto on a free loopback port."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def mosquitto_binary() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto",
                      "/usr/local/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise SystemExit("bench: mosquitto not found (apt-get install mosquitto)")


class Broker:
    """Mosquitto without persistence, unlimited in-flight and queue (the bench's only peer)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Broker:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join([
            f"listener {self.port} 127.0.0.1", "allow_anonymous true",
            "max_queued_messages 0", "max_inflight_messages 0", "persistence false",
            f"log_dest file {self.workdir}/mosquitto.log",
            f"user {pwd.getpwuid(os.getuid()).pw_name}",  # as root: not its own user (no log)
            "",
        ]))
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.__exit__()
        raise SystemExit("bench: mosquitto did not start")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

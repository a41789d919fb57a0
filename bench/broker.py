"""The bench's own Mosquitto on a free loopback port."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
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
    """The bench's only peer: Mosquitto with unlimited in-flight messages. Without persistence
    its queue is unbounded too (the throughput bench); with it (the soak), sessions and queued
    messages survive a restart and the queue holds up to ten million messages."""

    def __init__(self, workdir: Path, *, persistence: bool = False) -> None:
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.persistence = persistence
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1", "allow_anonymous true", "max_inflight_messages 0",
            "max_topic_alias 1000",  # MQTT 5 clients: an alias for every topic (default 10)
            f"log_dest file {self.log}",
            # Started as root, Mosquitto drops to its own user, which cannot write here: no log,
            # and no persistence file either (its restarts would silently lose queued messages).
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
        ]
        if persistence:
            lines += ["max_queued_messages 10000000", "persistence true",
                      f"persistence_location {workdir}/", "autosave_interval 1"]
        else:
            lines += ["max_queued_messages 0", "persistence false"]
        (workdir / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    @property
    def log(self) -> Path:
        return self.workdir / "mosquitto.log"

    def start(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.02)
        else:
            self.stop()
            raise SystemExit("bench: mosquitto did not start")
        if not self.log.exists():
            self.stop()
            raise SystemExit(f"bench: mosquitto cannot write to {self.workdir} (no log)")

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is stopped): with persistence, it saves its
        sessions and queued messages first; a broker that did not is an error."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.persistence and not (self.workdir / "mosquitto.db").exists():
            raise SystemExit(f"bench: mosquitto wrote no persistence file in {self.workdir}")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

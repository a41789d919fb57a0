"""The daemon as a real process, as systemd or a user would run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def write_config(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def base_config(port: int, gateway_id: str = "test", extra: str = "") -> str:
    return (
        f'[gateway]\nid = "{gateway_id}"\nshutdown_timeout = 5\n'
        f"restart_delay_initial = 0.1\nrestart_delay_max = 0.5\n"
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nreconnect_delay_max = 0.5\n{extra}\n'
    )


def simulated(device_id: str, interval: float = 0.1, sensors: str = '["temperature"]',
              extra: str = "") -> str:
    return (f'[[devices]]\nid = "{device_id}"\ndriver = "simulated"\ninterval = {interval}\n'
            f"sensors = {sensors}\nseed = 1\n{extra}\n")


class DaemonProcess:
    def __init__(self, config: Path, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()):
        self.config = config
        self.args = args
        self.env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> DaemonProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", *self.args, "--config", str(self.config)],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        return self

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float = 15.0) -> tuple[int, str]:
        assert self.proc is not None
        out, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.communicate()

    def __enter__(self) -> DaemonProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], env=full_env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )


def python_output(code: str, timeout: float = 60) -> str:
    """Run ``code`` in a fresh interpreter (nothing imported yet) from the repo; its stdout.
    For what a process imports: the test process itself has imported everything."""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, check=False, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout

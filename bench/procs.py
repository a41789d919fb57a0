"""Child processes of the bench: the harness, the real daemon, the C client, the pty simulator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def harness(config: Path, mode: str, seconds: float, prefill: int = 0) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.harness", str(config), mode, str(seconds), str(prefill)]
    done = subprocess.run(args, cwd=REPO, env=ENV, capture_output=True, text=True,
                          timeout=300, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"harness {mode} failed: {' | '.join(tail)}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def daemon(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "run", "--config", str(config), "--log-level", "WARNING"],
        cwd=REPO, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def proc_cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` so far, user and system, all its threads: the scheduler's own
    nanosecond count (``/proc/<pid>/task/*/schedstat``), not the 10 ms ticks of
    ``/proc/<pid>/stat``, which make a 60 s window of an idle daemon jump by 0.017 % of a core
    per tick. A thread that has ended no longer counts (the idle daemon has none); where
    schedstat is missing, the ticks."""
    if not Path(f"/proc/{pid}/schedstat").exists():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):  # the thread ended meanwhile
            continue
    return total / 1e9


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


WAKEUP_CALLS = ("epoll_wait", "epoll_pwait", "futex", "clock_nanosleep", "select")


def wakeups(pid: int, seconds: float) -> dict[str, int] | None:
    """System calls that put a thread of ``pid`` to sleep (each return is a wake-up), counted
    by ``strace -f -c`` over ``seconds``; None without strace (or without ptrace rights)."""
    strace = shutil.which("strace")
    if strace is None:
        return None
    done = subprocess.run(
        ["timeout", "-s", "INT", f"{seconds:g}", strace, "-f", "-c", "-e",
         f"trace={','.join(WAKEUP_CALLS)}", "-p", str(pid)],
        capture_output=True, text=True, check=False)
    counts: dict[str, int] = {}
    for line in done.stderr.splitlines():
        parts = line.split()
        if parts and parts[-1] in WAKEUP_CALLS and len(parts) >= 5:
            counts[parts[-1]] = int(parts[3])
    return counts or None


def build_c_client(workdir: Path) -> Path:
    binary = workdir / "pub"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(REPO / "bench" / "c" / "pub.c"),
                    "-lmosquitto", "-lpthread"], check=True, capture_output=True, text=True)
    return binary


def c_client(binary: Path, port: int, qos: int, count: int) -> dict[str, float]:
    done = subprocess.run([str(binary), "127.0.0.1", str(port), str(qos), str(count), "1000"],
                          capture_output=True, text=True, timeout=120, check=True)
    n, seconds, cpu = done.stdout.split()
    return {"rate": int(n) / float(seconds), "cpu_us": float(cpu) / int(n) * 1e6}


def subscriber(port: int, topic: str, seconds: int, *more: str) -> subprocess.Popen[bytes]:
    """``mosquitto_sub`` printing each message's arrival time (epoch, microseconds) and payload,
    for ``seconds`` (then it exits by itself, flushing its output); ``more`` topics too."""
    binary = shutil.which("mosquitto_sub")
    if binary is None:
        raise RuntimeError("mosquitto_sub not found (apt-get install mosquitto-clients)")
    topics = [arg for one in (topic, *more) for arg in ("-t", one)]
    return subprocess.Popen([binary, "-h", "127.0.0.1", "-p", str(port), "-q", "1", *topics,
                             "-F", "%U %p", "-W", str(seconds)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def output_within(proc: subprocess.Popen[bytes], seconds: float) -> str:
    """What a process that should exit by itself printed; if it is still running after
    ``seconds``, it is killed and what it printed so far is used. (``mosquitto_sub -W``, 2.0.11,
    once did not exit in a full test run while messages kept arriving; it writes each message
    out as it goes, so nothing printed is lost.)"""
    try:
        return proc.communicate(timeout=seconds)[0].decode()
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()[0].decode()


def simulator(link: Path) -> subprocess.Popen[bytes]:
    """``sensor-gateway simulate serial`` at an unreachable rate: as fast as it can write."""
    return subprocess.Popen(
        [sys.executable, "-m", "gateway", "simulate", "serial", "--protocol", "json",
         "--rate", "1000000", "--link", str(link), "--seed", "1"],
        cwd=REPO, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def tempdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="sensor-gateway-bench-")

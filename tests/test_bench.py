"""The bench cannot rot: ``python -m bench --quick`` runs every scenario and prints every row.

No timing is asserted (the suite never asserts performance); only that each scenario ran and
produced a number (or the documented "n/a" for a part not built yet).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.broker import mosquitto_binary
from support.components import require, which
from support.daemon import REPO

ROWS = [
    "C libmosquitto publisher, QoS 1",
    "C libmosquitto publisher, QoS 0",
    "readings/s acked, QoS 1, memory buffer",
    "CPU per reading, QoS 1, memory buffer",
    "readings/s acked, QoS 0, memory buffer",
    "readings/s acked, QoS 1, memory buffer, aiomqtt fallback path",
    "readings/s acked, QoS 1, disk outbox",
    "readings/s acked, QoS 0, disk outbox",
    "overload x200 devices x5 sensors @2 ms, memory buffer: readings/s acked",
    "overload, memory buffer: event-loop lag p99",
    "overload, memory buffer: peak RSS",
    "after the overload: p99 <= 5 ms again",
    "overload x200 devices x5 sensors @2 ms, disk outbox: readings/s acked",
    "latency read -> subscriber at 1 000 readings/s",
    "20 devices x 3 sensors at 1 Hz: CPU",
    "20 devices x 3 sensors at 1 Hz: RSS",
    "20 devices x 3 sensors at 1 Hz: wake-ups",
    "1 000 simulated devices (3 sensors, 1 Hz): RSS",
    "1 000 simulated devices (3 sensors, 1 Hz): CPU",
    "start to first reading on the broker",
    "backlog drain, memory buffer",
    "backlog drain, disk outbox",
    "serial path: pty simulator",
    "BLE path: 20 simulated Ruuvi tags",
]


def test_quick_bench_prints_every_row(tmp_path: Path) -> None:
    mosquitto_binary()
    require("gcc", which("gcc") is not None, "apt-get install gcc")
    require("libmosquitto-dev", Path("/usr/include/mosquitto.h").exists(),
            "apt-get install libmosquitto-dev")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": f"{os.environ['PATH']}:/usr/sbin"}
    done = subprocess.run([sys.executable, "-m", "bench", "--quick"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    for name in ROWS:
        matching = [line for line in table if line.startswith(f"| {name}")]
        assert matching, f"no row {name!r} in:\n{done.stdout}"
        result = matching[0].split("|")[2].strip()
        assert result and "FAILED" not in result, matching[0]
        assert any(ch.isdigit() for ch in result) or result.startswith("n/a"), matching[0]
    assert "machine:" in done.stdout and "commit" in done.stdout

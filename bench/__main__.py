"""``python -m bench [--quick] [--record]``: every scenario of issue 7 against an own Mosquitto."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import procs, report, scenarios
from bench.broker import Broker
from bench.scenarios import Params, Row


def _plan(p: Params, c_binary: Path, results: dict[str, float]) -> list[
        tuple[str, Callable[[], list[Row]]]]:
    return [
        ("C libmosquitto publisher", lambda: scenarios.c_reference(p, c_binary, results)),
        ("readings/s QoS 1 memory", lambda: scenarios.throughput(p, results, qos=1, disk=False)),
        ("readings/s QoS 0 memory", lambda: scenarios.throughput(p, results, qos=0, disk=False)),
        ("readings/s QoS 1 memory aiomqtt",
         lambda: scenarios.throughput(p, results, qos=1, disk=False, client="aiomqtt")),
        ("readings/s QoS 1 disk", lambda: scenarios.throughput(p, results, qos=1, disk=True)),
        ("readings/s QoS 0 disk", lambda: scenarios.throughput(p, results, qos=0, disk=True)),
        ("overload memory", lambda: scenarios.overload(p, results, disk=False)),
        ("overload disk", lambda: scenarios.overload(p, results, disk=True)),
        ("latency", lambda: scenarios.latency(p)),
        ("20 devices x 3 sensors", lambda: scenarios.small_site(p)),
        ("1 000 devices", lambda: scenarios.many_devices(p)),
        ("start to first reading", lambda: scenarios.startup(p)),
        ("backlog drain memory", lambda: scenarios.drain(p, disk=False)),
        ("backlog drain disk", lambda: scenarios.drain(p, disk=True)),
        ("serial path", lambda: scenarios.serial(p)),
        ("BLE path", lambda: scenarios.ble(p)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short runs (CI smoke test)")
    parser.add_argument("--record", action="store_true", help="append the table to RESULTS.md")
    args = parser.parse_args(argv)
    rows: list[Row] = []
    failed = False
    with procs.tempdir() as tmp:
        workdir = Path(tmp)
        c_binary = procs.build_c_client(workdir)
        with Broker(workdir) as broker:
            params = Params(broker.port, workdir, args.quick)
            results: dict[str, float] = {}
            for name, scenario in _plan(params, c_binary, results):
                print(f"bench: {name} ...", file=sys.stderr, flush=True)
                try:
                    rows.extend(scenario())
                except Exception as exc:  # noqa: BLE001 - one failing scenario is a row
                    traceback.print_exc()
                    rows.append(Row(name, f"FAILED: {type(exc).__name__}: {exc}"))
                    failed = True
    text = report.header(args.quick) + "\n\n" + report.table(rows)
    print(text)
    if args.record:
        report.record(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``sensor-gateway`` command line."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gateway import __version__
from gateway.cli import init as init_cli
from gateway.cli import monitor as monitor_cli
from gateway.cli import scan as scan_cli
from gateway.cli import schema as schema_cli
from gateway.cli import simulate as simulate_cli
from gateway.config import Settings, default_config_path, load_config
from gateway.core import registry
from gateway.errors import ConfigError, GatewayError
from gateway.logs import setup_logging

if TYPE_CHECKING:
    from gateway.daemon import Gateway
    from gateway.sdk import DeviceConfig

__all__ = ["main"]

log = logging.getLogger("gateway")
GC_YOUNG = 10_000  # net allocations before a collection of the youngest generation

EXIT_OK = 0
EXIT_FATAL = 1
EXIT_CONFIG = 2


def _parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line. The driver kinds' own commands (``scan KIND``, ``simulate KIND``)
    are only built for those commands (or for help): building them imports every kind's
    modules, which ``run`` does not need (about 2 MB a daemon would hold for nothing)."""
    words = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in words if not word.startswith("-")), None)
    kinds = command is None or command in ("scan", "simulate")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH",
                        help="config file (default: $SENSOR_GATEWAY_CONFIG, ./config.toml, "
                             "/etc/sensor-gateway/config.toml)")
    common.add_argument("--log-level", default=os.environ.get("SENSOR_GATEWAY_LOG_LEVEL", "INFO"),
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"], type=str.upper)
    parser = argparse.ArgumentParser(prog="sensor-gateway",
                                     description="Read sensors and publish them to MQTT.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", parents=[common], help="run the daemon")
    run.add_argument("--debug-asyncio", action="store_true",
                     help="asyncio debug mode: log callbacks slower than 100 ms, unawaited "
                          "coroutines and more (slow; for hunting loop blocks)")
    sub.add_parser("check", parents=[common], help="validate the config and print a summary")
    simulate_cli.add_parser(sub, with_kinds=kinds)
    monitor_cli.add_parser(sub, common)
    scan_cli.add_parser(sub, with_kinds=kinds)
    schema_cli.add_parser(sub)
    init_cli.add_parser(sub)
    return parser


# Commands that need no config file.
_STANDALONE = {"simulate": simulate_cli.run, "scan": scan_cli.run, "schema": schema_cli.run,
               "init": init_cli.run}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `sensor-gateway schema | head`: the reader left; not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return EXIT_OK


def _main(argv: Sequence[str] | None) -> int:
    args = _parser(argv).parse_args(argv)
    setup_logging(getattr(args, "log_level", "INFO"))
    if args.command in _STANDALONE:
        return _STANDALONE[args.command](args)
    path = default_config_path(args.config)
    try:
        settings = load_config(path)
        if args.command == "check":
            print(summary(path, settings))
            return EXIT_OK
        if args.command == "monitor":
            return monitor_cli.run(args, settings)
        return _run(settings, path, debug=args.debug_asyncio)
    except ConfigError as exc:
        _print_config_error(path, exc)
        return EXIT_CONFIG
    except GatewayError as exc:
        log.error("fatal: %s", exc)  # noqa: TRY400 - our own errors carry a clear message
        return EXIT_FATAL


def _print_config_error(path: Path, exc: ConfigError) -> None:
    print(f"sensor-gateway: configuration error in {path}:", file=sys.stderr)
    for key, message in exc.problems:
        print(f"  {key}: {message}" if key else f"  {message}", file=sys.stderr)


def _run(settings: Settings, path: Path, *, debug: bool = False) -> int:
    faulthandler.enable()  # a wedged loop killed by the watchdog (SIGABRT) dumps its stacks
    # The daemon and what its drivers will import (bleak, D-Bus, pymodbus...) are imported
    # here, before the event loop starts: an import on the loop blocks it (0.15 s for dbus-fast
    # on x86, more on a Pi) and the loop monitor would report that block at every start.
    from gateway.daemon import Gateway  # noqa: PLC0415 - keep `check` free of the MQTT stack

    registry.import_stacks(settings.expanded_devices())
    # asyncio's default executor (host name lookups, a reload's imports), which asyncio imports
    # on first use, that is on the loop; the disk outbox's import used to bring it in
    import concurrent.futures.thread  # noqa: F401, PLC0415
    settle_heap()
    try:
        asyncio.run(_serve(settings, path, Gateway), debug=debug)
    except GatewayError:
        raise
    except Exception as exc:
        log.critical("fatal: %s: %s", type(exc).__name__, exc,
                     exc_info=log.isEnabledFor(logging.DEBUG))
        return EXIT_FATAL
    return EXIT_OK


def settle_heap() -> None:
    """Before the loop starts, what is built so far (modules, the config) lives as long as the
    process: collect once, then move it out of the cyclic collector's sight (``gc.freeze``),
    and let the youngest generation grow to :data:`GC_YOUNG` objects before a collection
    (Python's default is 700).

    Readings are freed by reference counting as soon as the broker has them; but a burst (1 000
    devices ticking together put 3 000 readings in flight at once) crossed 700 live objects
    several times a second, and each crossing ran a collection that walked the buffer's queues,
    every tenth one an older generation's, every hundredth all the start-up objects: 0.45 % of
    a core for 1 000 devices at 1 Hz. Now it is about one collection a minute. The cycles left
    for later are few (tasks, exceptions) and bounded by the threshold. (The bench's in-process
    harness calls it too, as ``run`` does.)"""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])


async def _serve(settings: Settings, path: Path, gateway_class: type[Gateway]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if loop.get_debug():
        loop.slow_callback_duration = 0.1
        log.warning("asyncio debug mode: slower, logs callbacks that take more than 100 ms")

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("second %s: exiting at once", signal.Signals(signum).name)
            os._exit(EXIT_FATAL)
        log.info("%s received: shutting down", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    gateway = gateway_class(settings, loader=lambda: load_config(path))
    loop.add_signal_handler(signal.SIGHUP, gateway.ops.request_reload)
    await gateway.run(stop)


def summary(path: Path, settings: Settings) -> str:
    """What ``check`` prints: everything but secrets."""
    mqtt = settings.mqtt
    auth = f"user {mqtt.username!r}" if mqtt.username else "anonymous"
    if mqtt.password is not None or mqtt.password_file is not None:
        auth += " with password (hidden)"
    tls = "off"
    if mqtt.tls:
        tls = "on, NOT verified" if mqtt.tls_insecure else "on, verified"
    root = settings.topic_root
    lines = [
        f"config: {path} (valid)",
        f"gateway id: {settings.gateway.id}",
        f"broker: {mqtt.describe_servers()} MQTT {mqtt.protocol} qos {mqtt.qos}, tls {tls}, {auth}"
        + (" (embedded broker)" if mqtt.embedded_broker else ""),
        f"topics: {root}/<device>/<sensor>, status {root}/status",
        f"buffer: {_buffer_kind(settings)}, at most {settings.buffer.max_readings} readings, "
        f"{settings.buffer.overflow}",
        f"devices: {len(settings.expanded_devices())}",
    ]
    if settings.homeassistant.discovery:
        lines.insert(-1, f"home assistant: discovery under {settings.homeassistant.prefix}/device/")
    for device in settings.devices:
        lines.extend(_device_lines(root, device))
    return "\n".join(lines)


def _report_text(device: DeviceConfig, sensors: list[str] | None) -> str:
    """``temperature 0.2 (heartbeat 300s), humidity 2%`` for ``check``."""
    names = sensors or (list(device.deadband) if isinstance(device.deadband, dict) else ["*"])
    parts = []
    for name in names:
        policy = device.report_policy(name) if name != "*" else device.report_policy("")
        if policy is not None:
            beat = f" (heartbeat {policy.heartbeat:g}s)" if policy.heartbeat else ""
            parts.append(f"{'every sensor' if name == '*' else name} {policy.deadband}{beat}")
    return ", ".join(parts)


def _device_lines(root: str, device: object) -> list[str]:
    from gateway.core.topics import TopicLayout  # noqa: PLC0415
    from gateway.sdk import DeviceConfig  # noqa: PLC0415

    assert isinstance(device, DeviceConfig)
    expanded = device.expand()
    name = device.id if len(expanded) == 1 else f"{expanded[0].id} .. {expanded[-1].id}"
    sensors = device.sensor_names()
    period = device.read_every()
    every = f"every {period:g}s" if period is not None else "as it streams"
    lines = [f"  - {name} ({device.driver}, {every}): "
             + (", ".join(sensors) if sensors else "sensors known once it runs")]
    if device.deadband is not None:
        lines.append(f"      report by exception: {_report_text(device, sensors)}")
    layout = TopicLayout(root)
    first = expanded[0].id
    if device.layout == "device":
        lines.append(f"      {layout.device(first)}")
    else:
        lines.extend(f"      {layout.sensor(first, s)}" for s in sensors or [])
    return lines


def _buffer_kind(settings: Settings) -> str:
    path = settings.buffer.path
    return "memory (lost on restart)" if path is None else f"disk outbox {path}"

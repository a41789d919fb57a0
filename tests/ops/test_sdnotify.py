"""sd_notify over a real AF_UNIX datagram socket, spoken by the real daemon process."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import pytest
from support.broker import Mosquitto, free_port
from support.daemon import DaemonProcess, base_config, simulated, write_config
from support.inproc import running, settings_from
from support.notify import NotifySocket, ping_gaps

from gateway.ops.systemd import Notifier


def test_notifier_is_a_noop_without_socket() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.ready("x") is False
    assert notifier.watchdog_interval is None


def test_notifier_abstract_socket_and_one_line_status() -> None:
    name = f"sg-test-{os.getpid()}-{time.monotonic_ns()}"
    with NotifySocket(abstract=name) as sock:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "2000000"})
        assert notifier.watchdog_interval == 1.0
        assert notifier.ready("two\nlines")
        sock.wait_for(lambda: sock.with_key("READY"))
        notifier.close()
    assert sock.messages[0][1] == {"READY": "1", "STATUS": "two lines"}


def test_watchdog_pid_of_another_process_disables_the_watchdog() -> None:
    env = {"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000",
           "WATCHDOG_PID": str(os.getpid() + 1)}
    assert Notifier.from_env(env).watchdog_interval is None
    env["WATCHDOG_PID"] = str(os.getpid())
    assert Notifier.from_env(env).watchdog_interval == 0.5


def test_send_failure_is_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": "/nonexistent/notify"})
    assert notifier.ready() is False
    assert notifier.watchdog() is False
    assert sum("sd_notify" in r.getMessage() for r in caplog.records) == 1


async def test_daemon_lifecycle_ready_status_watchdog_reload_stopping(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    text = base_config(mosquitto.port, "sdnotify") + simulated("den", 0.05)
    config = write_config(tmp_path / "c.toml", text)
    with NotifySocket(tmp_path / "notify.sock") as sock, \
            DaemonProcess(config, env=sock.env(watchdog_usec=400_000)) as daemon:
        await asyncio.to_thread(sock.wait_for, lambda: sock.with_key("READY", "1"))
        await asyncio.to_thread(sock.wait_for, lambda: len(sock.with_key("WATCHDOG", "1")) >= 3)
        await asyncio.to_thread(
            sock.wait_for, lambda: any(s.startswith("1/1 devices online") for s in sock.statuses()))
        write_config(config, text + simulated("attic", 0.05))
        daemon.signal(signal.SIGHUP)
        await asyncio.to_thread(sock.wait_for, lambda: sock.with_key("RELOADING", "1"))
        await asyncio.to_thread(sock.wait_for, lambda: len(sock.with_key("READY", "1")) >= 2)
        await asyncio.to_thread(
            sock.wait_for, lambda: any(s.startswith("2/2 devices online") for s in sock.statuses()))
        daemon.signal(signal.SIGTERM)
        code, output = await asyncio.to_thread(daemon.wait)
    assert code == 0, output
    states = {"READY", "RELOADING", "STOPPING"}
    kinds = [key for _, m in sock.messages for key in m if key in states]
    assert kinds == ["READY", "RELOADING", "READY", "STOPPING"], sock.messages
    reloading = sock.with_key("RELOADING")[0][1]
    assert int(reloading["MONOTONIC_USEC"]) > 0
    status = sock.statuses()[-1]
    assert "readings so far" in status and "buffer" in status  # its first minute


async def test_broker_outage_keeps_the_watchdog_fed(tmp_path: Path) -> None:
    """Nothing listens on the broker port for the whole run: still healthy (reconnecting)."""
    config = write_config(tmp_path / "c.toml",
                          base_config(free_port(), "outage") + simulated("den", 0.05))
    with NotifySocket(tmp_path / "n.sock") as sock, \
            DaemonProcess(config, env=sock.env(watchdog_usec=300_000)):
        await asyncio.to_thread(sock.wait_for, lambda: sock.with_key("READY", "1"))
        await asyncio.to_thread(sock.wait_for,
                                lambda: len(sock.with_key("WATCHDOG", "1")) >= 15)
        await asyncio.to_thread(
            sock.wait_for, lambda: any("broker unavailable" in s for s in sock.statuses()))
    assert max(ping_gaps(sock)) < 1.0  # the 0.3 s watchdog would have fired otherwise


async def test_blocked_loop_withholds_the_watchdog(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loop blocked by a callback sends no ping until it runs again (systemd would kill it)."""
    with NotifySocket(tmp_path / "n.sock") as sock:
        for key, value in sock.env(watchdog_usec=200_000).items():
            monkeypatch.setenv(key, value)
        text = base_config(mosquitto.port, "wedge") + simulated("den", 0.05)
        async with running(settings_from(tmp_path, text)):
            await asyncio.to_thread(sock.wait_for,
                                    lambda: len(sock.with_key("WATCHDOG", "1")) >= 3)
            started = time.monotonic()
            time.sleep(1.0)  # noqa: ASYNC251 - the loop is blocked (deliberately) for 1 s
            count = len(sock.with_key("WATCHDOG", "1"))
            await asyncio.to_thread(sock.wait_for,
                                    lambda: len(sock.with_key("WATCHDOG", "1")) >= count + 3)
    gaps = ping_gaps(sock, after=started - 0.2)
    assert max(gaps) >= 0.9
    assert not [t for t, _ in sock.with_key("WATCHDOG") if started + 0.05 < t < started + 0.95]


async def test_publisher_health_definition() -> None:
    """The rule that gates WATCHDOG=1, on a real (not running) Publisher and a real task."""
    from gateway.config import MqttSection
    from gateway.core.topics import TopicLayout
    from gateway.delivery.buffer import MemoryBuffer
    from gateway.mqtt.publisher import Publisher
    from gateway.ops.health import PublisherHealth

    publisher = Publisher(MqttSection(reconnect_delay_max=5), TopicLayout("t"), MemoryBuffer(),
                          "health-test")
    async def publisher_loop() -> None:  # runs until cancelled, like the real one
        await asyncio.Event().wait()

    task = asyncio.create_task(publisher_loop(), name="fake-publisher-loop")
    health = PublisherHealth(publisher, task)
    start = time.monotonic()
    assert health.grace == 5 + 10 + 30
    assert health.problem(start + 1) is None  # reconnecting: fine
    assert "no connection attempt for 46s" in (health.problem(start + 46) or "")
    publisher.reconnects += 1  # it is still trying
    assert health.problem(start + 46) is None
    assert health.problem(start + 46 + 44) is None
    assert health.problem(start + 46 + 46) is not None
    publisher.connected.set()  # connected: healthy however long ago the last attempt was
    assert health.problem(start + 1000) is None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert health.problem(start + 1000) == "publisher task ended"


async def test_watchdog_abort_dumps_the_stacks(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """systemd's watchdog kills with SIGABRT: faulthandler writes every thread's stack."""
    config = write_config(tmp_path / "c.toml",
                          base_config(mosquitto.port, "abort") + simulated("den", 0.05))
    with NotifySocket(tmp_path / "n.sock") as sock, \
            DaemonProcess(config, env=sock.env(watchdog_usec=1_000_000)) as daemon:
        await asyncio.to_thread(sock.wait_for, lambda: sock.with_key("READY", "1"))
        daemon.signal(signal.SIGABRT)
        code, output = await asyncio.to_thread(daemon.wait)
    assert code == -signal.SIGABRT
    assert "Fatal Python error: Aborted" in output
    # Every thread's stack. The kernel hands a process-directed signal to any thread that
    # does not block it, so the "Current thread" may be a worker (the executor's, SQLite's)
    # or one without Python code; the main thread's stack must be there either way.
    assert re.search(r"^(Current thread|Thread) 0x[0-9a-f]+ \(most recent call first\)",
                     output, re.MULTILINE), output
    assert "gateway/cli/main.py" in output, output

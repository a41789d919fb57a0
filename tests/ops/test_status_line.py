"""The STATUS= line is right from the first second and counts readings per minute exactly.

Issue #19 saw ``0/2 devices online ... connecting`` for the first seconds while both devices
were online and connected (the line was sent every 5 s only), and ``24 readings/min`` where 12
were produced (a rate extrapolated from two samples of a running total, the first taken just
before the first burst).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from support.broker import Mosquitto
from support.daemon import DaemonProcess, base_config, simulated, write_config
from support.notify import NotifySocket

from gateway.core.rate import ReadingRate


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_status_is_right_from_the_first_second(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # 2 sensors every 10 s: 12 readings a minute, the first 2 at once.
    text = base_config(mosquitto.port, "firstsecond") + simulated(
        "demo", 10.0, '["temperature", "humidity"]')
    config = write_config(tmp_path / "c.toml", text)
    with NotifySocket(tmp_path / "notify.sock") as sock, \
            DaemonProcess(config, env=sock.env(watchdog_usec=30_000_000)):
        ready = (await asyncio.to_thread(sock.wait_for, lambda: sock.with_key("READY", "1")))[0]
        right = "1/1 devices online, 2 readings so far, buffer 0, connected"
        seen = await asyncio.to_thread(
            sock.wait_for, lambda: [t for t, m in sock.with_key("STATUS", right)], 10)
        assert seen[0] - ready[0] < 1.5, sock.statuses()  # not the 5 s check
        await asyncio.sleep(6)  # past the next periodic check: still right, nothing made up
    assert sock.statuses()[-1] == right, sock.statuses()
    assert not any("readings/min" in status for status in sock.statuses())


def test_a_minute_counts_exactly_the_readings_of_that_minute() -> None:
    start = 1000.49
    clock = Clock(start)
    rate = ReadingRate(clock)
    bursts = [start + 0.01 + 10 * k for k in range(30)]  # the first right after the start
    looks = [t for b in bursts for t in (b - 0.005, b + 0.005, b + 4.999)]
    events = sorted([(t, "burst") for t in bursts] + [(t, "look") for t in looks])
    fulls = 0
    for now, what in events:
        clock.now = now
        if what == "burst":
            rate.add(2)
            continue
        count, full = rate.last_minute()
        if full:
            assert count == 12, (now - start, count)  # 6 bursts of 2 in every whole minute
            fulls += 1
        else:
            assert now - start < 61, now - start
            assert count == 2 * sum(1 for b in bursts if b <= now)  # so far, not extrapolated
    assert fulls > 40


def test_idle_seconds_and_a_long_silence_empty_the_window() -> None:
    clock = Clock(50.0)
    rate = ReadingRate(clock)
    rate.add(5)
    clock.now = 200.0
    assert rate.last_minute() == (0, True)  # silent for longer than the window
    rate.add(3)
    clock.now = 201.0
    assert rate.last_minute() == (3, True)
    clock.now = 261.0
    assert rate.last_minute() == (0, True)  # that second has left the minute

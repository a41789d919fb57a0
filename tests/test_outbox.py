"""The disk outbox and the fair buffer core, against real SQLite files.

Full-disk tests: one fills a real, tiny tmpfs (needs root to mount it; it is the real ENOSPC
path); the other caps the file with SQLite's own ``max_page_count``, which makes SQLite itself
return SQLITE_FULL ("database or disk is full") from its pager: the same error a full disk gives,
on any machine, without root.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypedDict, Unpack

import pytest
from support.daemon import run_cli
from support.wait import until

from gateway.config import load_config
from gateway.delivery import make_buffer
from gateway.delivery.buffer import Entry, MemoryBuffer, Overflow
from gateway.delivery.outbox import DiskOutbox
from gateway.errors import ConfigError, OutboxLocked


def entry(device: str, n: int, size: int = 0) -> Entry:
    return Entry(f"t/{device}", str(n).encode().ljust(size, b" "), device)


def numbers(entries: list[Entry]) -> list[int]:
    return [int(e.payload) for e in entries]


async def drain(buf: DiskOutbox | MemoryBuffer, limit: int = 10_000) -> list[Entry]:
    async with asyncio.timeout(2):
        return await buf.get(limit)


class OutboxOptions(TypedDict, total=False):
    """DiskOutbox's options after the path."""

    max_readings: int
    overflow: Overflow
    max_bytes: int
    max_age: float | None
    commit_interval: float
    commit_readings: int
    retry_interval: float


@contextlib.asynccontextmanager
async def opened(path: Path, **kwargs: Unpack[OutboxOptions]) -> AsyncIterator[DiskOutbox]:
    async with DiskOutbox(path, **kwargs) as outbox:
        yield outbox


@contextlib.asynccontextmanager
async def running(path: Path, **kwargs: Unpack[OutboxOptions]) -> AsyncIterator[DiskOutbox]:
    async with opened(path, **kwargs) as outbox, asyncio.TaskGroup() as tg:
        task = tg.create_task(outbox.run(), name="outbox")
        try:
            yield outbox
        finally:
            task.cancel()


def rows_on_disk(path: Path) -> list[tuple[int, bytes]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute("SELECT id, payload FROM readings ORDER BY id").fetchall()


async def test_only_committed_readings_are_handed_out(tmp_path: Path) -> None:
    async with opened(tmp_path / "o.db") as outbox:
        outbox.put(entry("a", 1))
        assert outbox._take(10) == []  # not on disk yet: not published either
        await outbox.commit()
        assert numbers(await drain(outbox)) == [1]
        assert [p for _, p in rows_on_disk(tmp_path / "o.db")] == [b"1"]


async def test_ack_deletes_and_restart_keeps_the_rest_in_order(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with opened(path) as outbox:
        for n in range(10):
            outbox.put(entry("a" if n % 2 else "b", n))
        await outbox.commit()
        got = await drain(outbox, 4)
        outbox.ack(got[0])
        outbox.ack(got[2])
        await outbox.commit()
    # In flight but never acked: still on disk. Acked: deleted.
    acked = {int(got[0].payload), int(got[2].payload)}
    assert sorted(int(p) for _, p in rows_on_disk(path)) == sorted(set(range(10)) - acked)
    async with opened(path) as again:
        rest = await drain(again)
        per_device = {d: [int(e.payload) for e in rest if e.device == d] for d in "ab"}
        assert per_device == {d: sorted(per_device[d]) for d in "ab"}  # order per device
        assert sorted(numbers(rest)) == sorted(set(range(10)) - acked)
        again.put(entry("a", 99))
        await again.commit()
        assert (await drain(again))[0].id > max(e.id for e in rest)  # ids never reused


async def test_seq_continues_across_restarts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "o.db"
    async with opened(path) as outbox:
        for n in range(1, 6):
            outbox.sequences["t/a"] = n
            outbox.put(entry("a", n))
    async with opened(path) as again:
        assert "not closed cleanly" not in caplog.text
        assert again.sequences["t/a"] == 5
        assert numbers(await drain(again)) == [1, 2, 3, 4, 5]


async def test_one_process_per_outbox(tmp_path: Path) -> None:
    async with opened(tmp_path / "o.db"):
        with pytest.raises(OutboxLocked):
            async with opened(tmp_path / "o.db"):
                pass
    async with opened(tmp_path / "o.db"):  # released on close
        pass


async def test_corrupt_file_is_moved_aside_and_a_fresh_one_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "o.db"
    garbage = b"this is not an SQLite database\x00" * 200
    path.write_bytes(garbage)
    async with opened(path) as outbox:
        assert outbox.moved_aside is not None
        assert outbox.moved_aside.name.startswith("o.db.corrupt-")
        assert outbox.moved_aside.read_bytes() == garbage
        outbox.put(entry("a", 1))
        await outbox.commit()
        assert numbers(await drain(outbox)) == [1]
    assert "moved aside" in caplog.text
    assert [p for _, p in rows_on_disk(path)] == [b"1"]


async def test_truncated_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with opened(path) as outbox:
        for n in range(500):
            outbox.put(entry("a", n, 200))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + b"\xff" * 4096)  # a torn, scribbled file
    async with opened(path) as outbox:
        assert outbox.moved_aside is not None
        outbox.put(entry("a", 1))
        await outbox.commit()


@pytest.mark.parametrize(
    ("policy", "kept"), [("drop_oldest", [5, 6, 7, 8, 9]), ("drop_newest", [0, 1, 2, 3, 4])]
)
async def test_bounds_policy_on_disk_and_after_restart(
    tmp_path: Path, policy: Overflow, kept: list[int]
) -> None:
    path = tmp_path / "o.db"
    async with opened(path, max_readings=5, overflow=policy) as outbox:
        for n in range(10):
            outbox.put(entry("dev", n))
            await outbox.commit()  # some dropped ones are already on disk: deleted again
        assert outbox.stats().dropped == {"dev": 5}
    assert sorted(int(p) for _, p in rows_on_disk(path)) == kept
    async with opened(path, max_readings=3, overflow=policy) as smaller:
        assert smaller.stats().dropped == {"dev": 2}  # a smaller bound applies at start too
        assert len(await drain(smaller)) == 3


async def test_max_bytes_and_max_age(tmp_path: Path) -> None:
    async with opened(tmp_path / "o.db", max_bytes=1000) as outbox:
        for n in range(10):
            outbox.put(entry("d", n, 200))  # 203 bytes each with the topic
        assert outbox.stats().bytes <= 1000
        assert outbox.stats().dropped == {"d": 6}
    buf = MemoryBuffer(max_age=60)
    old, new = entry("d", 1), entry("d", 2)
    old.ts = 1000.0
    new.ts = 1100.0
    buf.put(old)
    buf.put(new)
    assert buf.expire(now=1100.0) == 1
    assert numbers(await drain(buf)) == [2]
    assert buf.stats().dropped == {"d": 1}


async def test_max_age_deletes_expired_readings_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with opened(path, max_age=60) as outbox:
        old = entry("d", 1)
        old.ts = 1000.0
        outbox.put(old)
        outbox.put(entry("d", 2))
        await outbox.commit()
        assert len(rows_on_disk(path)) == 2
        assert outbox.expire() == 1
        await outbox.commit()
        assert [p for _, p in rows_on_disk(path)] == [b"2"]
        assert outbox.stats().dropped == {"d": 1}


@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
async def test_flooding_device_evicts_its_own_readings_only(policy: Overflow) -> None:
    buf = MemoryBuffer(100, policy)
    for n in range(10):
        buf.put(entry("calm", n))
    for n in range(2000):
        buf.put(entry("flood", n))
        if n % 100 == 0:
            buf.put(entry("calm", 10 + n // 100))
    got = await drain(buf)
    calm = [int(e.payload) for e in got if e.device == "calm"]
    flood = [int(e.payload) for e in got if e.device == "flood"]
    assert calm == list(range(30))  # within its share: nothing of it evicted
    assert buf.stats().dropped == {"flood": 2000 - len(flood)}
    assert flood == (list(range(2000 - len(flood), 2000)) if policy == "drop_oldest"
                     else list(range(len(flood))))


async def test_a_device_over_its_share_loses_its_own_oldest() -> None:
    buf = MemoryBuffer(10)
    for n in range(8):
        buf.put(entry("a", n))
    for n in range(4):
        buf.put(entry("b", n))
    got = await drain(buf)
    assert numbers([e for e in got if e.device == "b"]) == [0, 1, 2, 3]
    assert numbers([e for e in got if e.device == "a"]) == [2, 3, 4, 5, 6, 7]


async def test_get_round_robins_so_live_readings_pass_a_backlog() -> None:
    buf = MemoryBuffer()
    for n in range(1000):
        buf.put(entry("backlog", n))
    buf.put(entry("live", 0))
    first = await drain(buf, 10)
    assert "live" in [e.device for e in first]
    assert numbers([e for e in first if e.device == "backlog"]) == list(range(9))


async def test_commits_are_batched(tmp_path: Path) -> None:
    async with running(tmp_path / "o.db", commit_interval=0.05, commit_readings=100) as outbox:
        for n in range(1000):
            outbox.put(entry("a", n))
        got: list[Entry] = []
        while len(got) < 1000:
            got += await drain(outbox)
        assert numbers(got) == list(range(1000))
        assert outbox.commits <= 20  # 1000 readings in ~10 transactions, not 1000


async def _full_disk_cycle(
    outbox: DiskOutbox, path: Path, fill: Callable[[], None], free: Callable[[], None]
) -> None:
    outbox.put(entry("a", 0))
    await until(lambda: outbox.commits >= 1)
    fill()
    for n in range(1, 200):
        outbox.put(entry("a", n, 500))
    await until(lambda: not outbox.stats().persistent)
    assert outbox.stats().unpersisted > 0
    got = await drain(outbox)  # still flowing, from memory
    assert numbers(got)[:1] == [0] and len(got) >= 1
    outbox.requeue_inflight()
    free()
    await until(lambda: outbox.stats().persistent, timeout=10)
    assert sorted(int(p) for _, p in rows_on_disk(path)) == list(range(200))


async def test_full_disk_keeps_running_on_memory_and_recovers_sqlite_limit(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.db"
    async with running(path, retry_interval=0.05) as outbox:

        def limit(pages: int) -> None:
            assert outbox._store._conn is not None
            outbox._store._conn.execute(f"PRAGMA max_page_count={pages}")

        async def set_pages(pages: int) -> None:
            await outbox._call(limit, pages)

        def fill() -> None:
            asyncio.get_running_loop().create_task(set_pages(3), name="fill")

        def free() -> None:
            asyncio.get_running_loop().create_task(set_pages(1_000_000), name="free")

        await _full_disk_cycle(outbox, path, fill, free)


async def test_readings_put_during_a_failing_write_still_flow(tmp_path: Path) -> None:
    async with opened(tmp_path / "o.db", retry_interval=0.05) as outbox:
        outbox.put(entry("a", 0))
        await outbox.commit()
        assert outbox._store._conn is not None
        await outbox._call(outbox._store._conn.execute, "PRAGMA max_page_count=3")
        for n in range(1, 100):
            outbox.put(entry("a", n, 500))
        failing = asyncio.create_task(outbox.commit(), name="failing-commit")
        await asyncio.sleep(0)  # the write is in the thread now
        for n in range(100, 110):
            outbox.put(entry("a", n))  # while it fails
        await failing
        assert not outbox.stats().persistent
        assert numbers(await drain(outbox)) == list(range(110))
        assert outbox.stats().unpersisted == 109


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 1 MiB tmpfs: writes to it really fail with ENOSPC when it is full. Mounting needs
    root with CAP_SYS_ADMIN; without it this test is skipped even under CI (a privilege, not a
    component CI can install) and the max_page_count test still covers SQLITE_FULL."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    ok = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
        capture_output=True, check=False).returncode == 0
    if not ok:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


async def test_full_disk_keeps_running_on_memory_and_recovers_tmpfs(tiny_tmpfs: Path) -> None:
    path = tiny_tmpfs / "o.db"
    filler = tiny_tmpfs / "filler"

    def fill() -> None:
        with contextlib.suppress(OSError), filler.open("wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()

    async with running(path, retry_interval=0.05) as outbox:
        await _full_disk_cycle(outbox, path, fill, filler.unlink)


_CONFIG = """
[gateway]
id = "cfg"
[buffer]
{buffer}
[[devices]]
id = "kitchen"
driver = "simulated"
sensors = ["temperature"]
"""


def test_buffer_keys_and_their_errors(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(_CONFIG.format(buffer=f'path = "{tmp_path / "o.db"}"\nmax_age = 3600'))
    settings = load_config(path)
    assert isinstance(make_buffer(settings.buffer), DiskOutbox)
    assert settings.buffer.commit_interval == 0.1
    check = run_cli("check", "--config", str(path))
    assert check.returncode == 0
    assert f"buffer: disk outbox {tmp_path / 'o.db'}" in check.stdout
    path.write_text(_CONFIG.format(buffer="commit_interval = 0\nmax_bytes = -1\nsync = 1"))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert sorted(info.value.problems) == [
        ("buffer.commit_interval", "must be > 0.0"), ("buffer.max_bytes", "must be > 0"),
        ("buffer.sync", "unknown key")]
    path.write_text(_CONFIG.format(buffer=""))
    assert isinstance(make_buffer(load_config(path).buffer), MemoryBuffer)

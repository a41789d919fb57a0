"""Streaming framers: arbitrary chunks of a byte stream in, decoded frames or errors out.

Both framers return, per :meth:`feed`, a list of :data:`FrameResult` in stream order: a list of
measurements for each good frame/line, or the :class:`DecodeError` for each bad one (count it by
``kind``; it is never raised). Their memory is bounded whatever the device sends.

:class:`BinaryFramer` finds fixed-size frames by their 2-byte header (:data:`PMS5003`,
:data:`SDS011`, :data:`MHZ19` specs). A candidate frame that fails (checksum, length field, tail)
is skipped by one byte only and the search for the next header continues inside it, so a good
frame right after garbage or a truncated frame is not lost. A frame that decodes but is
``out_of_range`` passed its checksum and is skipped whole. Bytes discarded outside any candidate
frame are reported as ``garbage`` errors: one at the 1st, 257th, 513th... byte of each run (so a
wrong baud rate shows up as a steady error rate, independent of chunk sizes); the remainder of a
failed candidate is not counted again. The buffer never holds more than one frame.

:class:`LineFramer` splits on ``\\n`` (a trailing ``\\r`` is stripped, empty lines are skipped),
hands each line to a line decoder and reports lines longer than ``max_length`` bytes as one
``too_long`` error each, discarding them (a runaway device without newlines cannot grow memory:
the partial line is dropped as soon as it exceeds the limit, and the rest up to the next newline
is skipped). :class:`LineSplitter` is the splitting part alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from gateway.sdk import DecodeError, Measurement

from ._common import GARBAGE, OUT_OF_RANGE, TOO_LONG
from ._mhz19 import MHZ19_FRAME_SIZE, MHZ19_HEADER, decode_mhz19
from ._pms5003 import PMS5003_FRAME_SIZE, PMS5003_HEADER, decode_pms5003
from ._sds011 import SDS011_FRAME_SIZE, SDS011_HEADER, decode_sds011

__all__ = [
    "MHZ19",
    "PMS5003",
    "SDS011",
    "BinaryFramer",
    "FrameResult",
    "FrameSpec",
    "LineFramer",
    "LineSplitter",
]

FrameResult: TypeAlias = list[Measurement] | DecodeError
"""One item of a framer's output: the measurements of a good frame, or why a frame was bad."""

_GARBAGE_REPORT_EVERY = 256


@dataclass(frozen=True, slots=True)
class FrameSpec:
    """A fixed-size binary frame: its header bytes, total size and decoder."""

    name: str
    header: bytes
    size: int
    decode: Callable[[bytes], Sequence[Measurement]]

    def __post_init__(self) -> None:
        if not self.header or self.size < len(self.header):
            raise ValueError(f"frame spec {self.name}: bad header or size")


PMS5003 = FrameSpec("pms5003", PMS5003_HEADER, PMS5003_FRAME_SIZE, decode_pms5003)
SDS011 = FrameSpec("sds011", SDS011_HEADER, SDS011_FRAME_SIZE, decode_sds011)
MHZ19 = FrameSpec("mhz19", MHZ19_HEADER, MHZ19_FRAME_SIZE, decode_mhz19)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _prefix_tail(buf: bytearray, header: bytes, pos: int) -> int:
    """Length of the longest end of ``buf[pos:]`` that is a proper start of ``header``."""
    for keep in range(min(len(header) - 1, len(buf) - pos), 0, -1):
        if buf.endswith(header[:keep]):
            return keep
    return 0


class BinaryFramer:
    """Find, check and decode fixed-size frames in a byte stream (see the module docstring)."""

    __slots__ = ("_buf", "_quiet", "_run", "spec")

    def __init__(self, spec: FrameSpec) -> None:
        self.spec = spec
        self._buf = bytearray()
        self._run = 0  # bytes in the current garbage run (reset by every candidate frame)
        self._quiet = 0  # bytes left of a failed candidate frame, discarded without a report

    def feed(self, data: bytes) -> list[FrameResult]:
        """Results of the frames completed by ``data``, in stream order."""
        self._buf += data
        out: list[FrameResult] = []
        pos = self._scan(out)
        del self._buf[:pos]
        return out

    def _scan(self, out: list[FrameResult]) -> int:
        """Decode every complete candidate; return how many buffered bytes are consumed."""
        buf, header, size = self._buf, self.spec.header, self.spec.size
        pos = 0
        while (start := buf.find(header, pos)) >= 0:
            self._discard(start - pos, out)
            if len(buf) - start < size:
                return start
            pos = start + self._candidate(bytes(buf[start : start + size]), out)
        end = len(buf) - _prefix_tail(buf, header, pos)
        self._discard(end - pos, out)
        return end

    def _candidate(self, frame: bytes, out: list[FrameResult]) -> int:
        """Decode one candidate frame; return how far to advance (whole frame or one byte)."""
        self._run = 0
        try:
            out.append(list(self.spec.decode(frame)))
        except DecodeError as exc:
            out.append(exc)
            if exc.kind != OUT_OF_RANGE:
                self._quiet = len(frame) - 1
                return 1
        self._quiet = 0
        return len(frame)

    def _discard(self, count: int, out: list[FrameResult]) -> None:
        """Account for ``count`` skipped bytes: a garbage error at byte 1, 257, 513... of a run."""
        quiet = min(count, self._quiet)
        self._quiet -= quiet
        if count <= quiet:
            return
        before, self._run = self._run, self._run + count - quiet
        reports = _ceil_div(self._run, _GARBAGE_REPORT_EVERY) - _ceil_div(
            before, _GARBAGE_REPORT_EVERY
        )
        error = f"{self.spec.name}: bytes outside any frame"
        out.extend(DecodeError(error, kind=GARBAGE) for _ in range(reports))


class LineSplitter:
    """Split a byte stream into lines of at most ``max_length`` bytes (without ``\\r\\n``)."""

    __slots__ = ("_buf", "_skipping", "max_length")

    def __init__(self, max_length: int = 512) -> None:
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        self.max_length = max_length
        self._buf = bytearray()
        self._skipping = False  # inside a too-long line already reported

    def feed(self, data: bytes) -> list[bytes | DecodeError]:
        """The complete, non-empty lines in ``data`` (plus buffered start), and too_long errors."""
        *complete, partial = data.split(b"\n")
        out: list[bytes | DecodeError] = []
        for piece in complete:
            self._end_line(piece, out)
        self._keep(partial, out)
        return out

    def _too_long(self, out: list[bytes | DecodeError]) -> None:
        out.append(DecodeError(f"line longer than {self.max_length} bytes", kind=TOO_LONG))

    def _end_line(self, piece: bytes, out: list[bytes | DecodeError]) -> None:
        if self._skipping:
            self._skipping = False
            return
        line = bytes(self._buf + piece) if self._buf else piece
        self._buf.clear()
        line = line.removesuffix(b"\r")
        if len(line) > self.max_length:
            self._too_long(out)
        elif line:
            out.append(line)

    def _keep(self, partial: bytes, out: list[bytes | DecodeError]) -> None:
        if self._skipping:
            return
        self._buf += partial
        if len(self._buf) > self.max_length + 1:  # +1: a "\r" still waiting for its "\n"
            self._buf.clear()
            self._skipping = True
            self._too_long(out)


class LineFramer:
    """Split a byte stream into lines and decode each with ``decode`` (a line decoder)."""

    __slots__ = ("_splitter", "decode")

    def __init__(
        self, decode: Callable[[bytes], Sequence[Measurement]], max_length: int = 512
    ) -> None:
        self.decode = decode
        self._splitter = LineSplitter(max_length)

    def feed(self, data: bytes) -> list[FrameResult]:
        """Results of the lines completed by ``data``, in stream order."""
        out: list[FrameResult] = []
        for line in self._splitter.feed(data):
            if isinstance(line, DecodeError):
                out.append(line)
                continue
            try:
                out.append(list(self.decode(line)))
            except DecodeError as exc:
                out.append(exc)
        return out

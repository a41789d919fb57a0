"""CSV lines: delimiter-separated numbers, column names given or learned from a header line.

With ``fields`` given, every line is data. Without, the first line in which no cell is a number
(all cells non-empty and distinct) becomes the header and yields ``[]``; data lines before it are
``decode`` errors, and later lines identical to the header are ignored (``[]``): a device that
reprints its header after a reset keeps working. A *different* header later is not re-learned
(it fails as a data line), so give ``fields`` for devices that print a banner first; :meth:`reset`
forgets a learned header (e.g. after reopening the port).

No quoting: cells are split on the delimiter and stripped of blanks (header names also of ``"``).
A data line with a different column count is ``decode``; non-numeric cells are ignored; a line
without a numeric cell is ``garbage``.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.sdk import DecodeError, Measurement

from ._common import DECODE, GARBAGE, as_text, parse_number, require_finite
from ._fields import FieldOptions

__all__ = ["CsvLineDecoder", "encode_csv_line"]


def _header_of(cells: list[str]) -> tuple[str, ...] | None:
    """``cells`` as column names if they look like a header (no numbers, non-empty, distinct)."""
    names = tuple(cell.strip('"') for cell in cells)
    if not all(names) or len(set(names)) != len(names):
        return None
    if any(parse_number(name) is not None for name in names):
        return None
    return names


class CsvLineDecoder:
    """Stateful CSV line decoder (state: the learned header, if ``fields`` is not given)."""

    __slots__ = ("_fields", "_learn", "delimiter", "options")

    def __init__(
        self,
        fields: Sequence[str] | None = None,
        delimiter: str = ",",
        options: FieldOptions | None = None,
    ) -> None:
        if not delimiter:
            raise ValueError("CSV delimiter must not be empty")
        if fields is not None and (not all(fields) or len(set(fields)) != len(fields)):
            raise ValueError(f"CSV fields must be non-empty, distinct names: {list(fields)!r}")
        self.delimiter = delimiter
        self.options = options if options is not None else FieldOptions()
        self._learn = fields is None
        self._fields: tuple[str, ...] | None = None if fields is None else tuple(fields)

    @property
    def fields(self) -> tuple[str, ...] | None:
        """The column names in use (given or learned), None before a header was seen."""
        return self._fields

    def reset(self) -> None:
        """Forget a learned header (no effect when ``fields`` were given)."""
        if self._learn:
            self._fields = None

    def decode(self, line: bytes | str) -> list[Measurement]:
        cells = [cell.strip() for cell in as_text(line).split(self.delimiter)]
        if self._learn and self._is_header(cells):
            return []
        if self._fields is None:
            raise DecodeError("CSV data before a header line (no fields configured)", kind=DECODE)
        if len(cells) != len(self._fields):
            raise DecodeError(
                f"CSV line has {len(cells)} columns, expected {len(self._fields)}", kind=DECODE
            )
        numbers = [
            (name, value)
            for name, cell in zip(self._fields, cells, strict=True)
            if (value := parse_number(cell)) is not None
        ]
        if not numbers:
            raise DecodeError("CSV line without a numeric cell", kind=GARBAGE)
        return self.options.apply(numbers)

    def _is_header(self, cells: list[str]) -> bool:
        """Learn the first header line; recognise repeats of it."""
        header = _header_of(cells)
        if header is None or self._fields not in (None, header):
            return False
        self._fields = header
        return True


def encode_csv_line(cells: Sequence[float | str], delimiter: str = ",") -> bytes:
    """One CSV line (no newline): numbers as ``repr(float)``, strings (header names) verbatim."""
    texts = [c if isinstance(c, str) else repr(float(require_finite("cell", c))) for c in cells]
    return delimiter.join(texts).encode()

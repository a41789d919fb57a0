"""Pure protocol layer of the serial driver: bytes in, measurements out, no I/O.

Line protocols (one line, without its newline, as ``bytes`` or ``str``), each an object with
``decode(line) -> list[Measurement]`` whose field names, units, scaling and filtering come from
a :class:`FieldOptions`:

- :class:`JsonLineDecoder` - ``{"temperature": 21.5, "env": {"rh": 40}}``
- :class:`CsvLineDecoder` - ``21.5,40`` with given or learned column names (stateful)
- :class:`KvLineDecoder` - ``temperature=21.5 humidity=40``
- :class:`RegexLineDecoder` - named groups of a regex
- :func:`decode_nmea` - GPS GGA/RMC sentences (checksum required)

Binary sensor frames (one complete frame): :func:`decode_pms5003`, :func:`decode_sds011`,
:func:`decode_mhz19` (plus :func:`mhz19_read_command`, the command to poll it).

Streams: :class:`BinaryFramer` (with the :data:`PMS5003`, :data:`SDS011`, :data:`MHZ19` specs)
and :class:`LineFramer` turn arbitrary chunks into :data:`FrameResult` items.

Encoders for simulators build valid frames and lines (no line terminator): ``encode_*`` and
:func:`garbage`.

Every decoder raises only :class:`gateway.errors.DecodeError`; its ``kind`` is one of
``garbage``, ``checksum``, ``too_long``, ``out_of_range``, ``decode`` (see ``_common``).
Values are always finite floats. The sensor names and units of each protocol are documented in
its module.
"""

from ._common import garbage, parse_number
from ._csv_line import CsvLineDecoder, encode_csv_line
from ._fields import FieldOptions
from ._framing import (
    MHZ19,
    PMS5003,
    SDS011,
    BinaryFramer,
    FrameResult,
    FrameSpec,
    LineFramer,
    LineSplitter,
)
from ._json_line import JsonLineDecoder, encode_json_line
from ._kv_line import KvLineDecoder, encode_kv_line
from ._mhz19 import decode_mhz19, encode_mhz19_response, mhz19_checksum, mhz19_read_command
from ._nmea import decode_nmea, encode_gga, encode_rmc, nmea_checksum
from ._pms5003 import decode_pms5003, encode_pms5003
from ._regex_line import RegexLineDecoder
from ._sds011 import decode_sds011, encode_sds011
from ._types import LineDecoder

__all__ = [
    "MHZ19",
    "PMS5003",
    "SDS011",
    "BinaryFramer",
    "CsvLineDecoder",
    "FieldOptions",
    "FrameResult",
    "FrameSpec",
    "JsonLineDecoder",
    "KvLineDecoder",
    "LineDecoder",
    "LineFramer",
    "LineSplitter",
    "RegexLineDecoder",
    "decode_mhz19",
    "decode_nmea",
    "decode_pms5003",
    "decode_sds011",
    "encode_csv_line",
    "encode_gga",
    "encode_json_line",
    "encode_kv_line",
    "encode_mhz19_response",
    "encode_pms5003",
    "encode_rmc",
    "encode_sds011",
    "garbage",
    "mhz19_checksum",
    "mhz19_read_command",
    "nmea_checksum",
    "parse_number",
]

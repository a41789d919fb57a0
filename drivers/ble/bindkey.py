"""Where a device's bindkey comes from: ``bindkey`` (the TOML file, best kept out of it),
``bindkey_file`` (a file holding the hex digits) or ``bindkey_env`` (an environment
variable). The key is a secret: it is read once per config load and no message ever shows
it (errors name the key's source, never its value)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from drivers.ble.decoders import parse_mibeacon_key

__all__ = ["KEY_SOURCES", "read_bindkey"]

KEY_SOURCES = ("bindkey", "bindkey_file", "bindkey_env")
_FORM = "must be 32 hex digits (16 bytes), or 24 for a Xiaomi MiBeacon v2/v3 device"


def read_bindkey(
    bindkey: SecretStr | None, bindkey_file: Path | None, bindkey_env: str | None
) -> bytes | None:
    """The key (16 bytes, or 12 for MiBeacon v2/v3) from whichever source is set, or
    ``None``. ``ValueError("<source>: ...")`` for two sources, an unreadable one, or a value
    that is not a key."""
    given = [(name, value) for name, value in zip(
        KEY_SOURCES, (bindkey, bindkey_file, bindkey_env), strict=True) if value is not None]
    if not given:
        return None
    if len(given) > 1:
        raise ValueError(f"{given[1][0]}: set only one of bindkey, bindkey_file, bindkey_env")
    source, value = given[0]
    text = _text(source, value)
    try:
        return parse_mibeacon_key(text.strip())
    except ValueError:
        raise ValueError(f"{source}: {_FORM}") from None


def _text(source: str, value: SecretStr | Path | str) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        try:
            return value.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not text"
            raise ValueError(f"{source}: cannot read {str(value)!r}: {reason}") from None
    found = os.environ.get(value)
    if found is None:
        raise ValueError(f"{source}: the environment variable {value} is not set")
    return found

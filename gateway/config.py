"""The configuration: one TOML file, validated by pydantic, overridable from the environment.

Load with :func:`load_config`. Every problem becomes a :class:`~gateway.errors.ConfigError` whose
messages name the TOML key path (``devices[2].interval: must be > 0``) and never echo a value, so a
secret can not leak through an error.
"""

from __future__ import annotations

import contextvars
import difflib
import os
import re
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Self, Union, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from gateway.core import registry
from gateway.core.topics import sanitize
from gateway.errors import ConfigError
from gateway.sdk import DeviceConfig

__all__ = [
    "BufferSection",
    "GatewaySection",
    "HomeAssistantSection",
    "MetricsSection",
    "MqttSection",
    "Settings",
    "StrictModel",
    "default_config_path",
    "load_config",
]

ENV_PREFIX = "SENSOR_GATEWAY_"
SYSTEM_CONFIG = Path("/etc/sensor-gateway/config.toml")
_TOML_PATH: contextvars.ContextVar[Path] = contextvars.ContextVar("toml_path")


class StrictModel(BaseModel):
    """Base of every config table: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def default_gateway_id() -> str:
    return sanitize(socket.gethostname().split(".")[0].lower(), fallback="gateway")


class GatewaySection(StrictModel):
    id: str = Field(default_factory=default_gateway_id, min_length=1)
    shutdown_timeout: float = Field(5.0, gt=0)
    restart_delay_initial: float = Field(0.5, gt=0)
    restart_delay_max: float = Field(30.0, gt=0)
    stats_interval: float = Field(60.0, gt=0)  # seconds between two <root>/stats messages

    @model_validator(mode="after")
    def _id_is_topic_safe(self) -> Self:
        if sanitize(self.id) != self.id:
            raise ValueError(f"id must be usable as a topic level; try {sanitize(self.id)!r}")
        return self


class MqttSection(StrictModel):
    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    qos: int = Field(1, ge=0, le=1)
    topic_root: str = "sensor-gateway/{gateway_id}"
    client_id: str | None = None
    keepalive: int = Field(30, ge=5, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    tls_insecure: bool = False
    embedded_broker: bool = False
    max_inflight: int = Field(100, ge=1, le=65_000)  # packet ids: see mqtt.client.MAX_WINDOW
    client: Literal["lean", "aiomqtt"] = "lean"  # the data path; see README, Performance
    reconnect_delay_max: float = Field(30.0, gt=0)
    reconnect_spread: float = Field(
        1.5, gt=0, le=600,
        description="While the broker's port refuses connections (the broker is down or "
        "restarting), the gateway looks again every this many seconds (+-10 %, the first time "
        "after a random part of it) instead of backing off: it is back within about this long "
        "of the broker's return. A fleet sharing one broker sets it to spread its reconnects: "
        "at most about 1 / `reconnect_spread` of the fleet reconnects in any one second (15 s: "
        "under a tenth). Other failures (timeouts, refusals by the broker) back off up to "
        "`reconnect_delay_max`. See docs: delivery.")
    max_packet_size: int | None = Field(
        None, ge=128, le=268_435_460,
        description="The largest MQTT packet the broker accepts, in bytes (Mosquitto's "
        "`max_packet_size`). A reading, status or discovery config that would be larger is "
        "not sent: it is dropped, counted (`sensor_gateway_readings_rejected_total`, reason "
        "`too_large`) and logged once per topic, and everything else keeps flowing (a broker "
        "that gets one drops the connection). Unset: no limit of our own; with "
        "`protocol = 5` the broker's ""Maximum Packet Size applies as well. See docs: delivery.")
    will_qos: int = Field(
        1, ge=0, le=1,
        description="QoS of the last will (`<root>/status` = `offline`). A broker with "
        "`max_qos 0` refuses a QoS 1 will.")
    will_retain: bool = Field(
        True,
        description="Whether the last will is retained (so a late subscriber sees the gateway "
        "`offline`). A broker with `retain_available false` refuses a retained will.")
    servers: list[str] | None = Field(
        None, min_length=1,
        description="Brokers to fail over between, each `\"host:port\"` (IPv6 in brackets), e.g. "
        "`[\"mqtt-a.lan:1883\", \"mqtt-b.lan:1883\"]`. Replaces `host` and `port` (set one or the "
        "other); TLS and credentials apply to every entry. Tried in order; after a lost or failed "
        "connection the next one is tried, wrapping around. The gateway stays on the server it is "
        "connected to (it does not return to the first on its own). See docs: delivery.")

    @model_validator(mode="after")
    def _check_servers(self) -> Self:
        if self.servers is None:
            return self
        if {"host", "port"} & self.model_fields_set:
            raise ValueError("servers: replaces host and port; set servers or host/port, not both")
        for index, entry in enumerate(self.servers):
            try:
                parse_host_port(entry, key=f"servers[{index}]")
            except ValueError as exc:
                raise ValueError(str(exc)) from None
        if len(set(self.servers)) != len(self.servers):
            raise ValueError("servers: an entry appears twice")
        return self

    @property
    def addresses(self) -> tuple[tuple[str, int], ...]:
        """Every broker to try, in order: ``servers`` parsed, else ``(host, port)``."""
        if self.servers is None:
            return ((self.host, self.port),)
        return tuple(parse_host_port(entry, key="servers") for entry in self.servers)

    def describe_servers(self) -> str:
        """``host:port`` of every broker, comma separated (for logs and ``check``)."""
        return ", ".join(format_host_port(host, port) for host, port in self.addresses)

    protocol: Literal["3.1.1", 5] = Field(
        "3.1.1",
        description="MQTT version: `\"3.1.1\"` (default, every broker) or `5` (Mosquitto 2, EMQX, "
        "HiveMQ, VerneMQ...): the broker's limits (Receive Maximum, Maximum Packet Size, Topic "
        "Alias Maximum, Maximum QoS, Retain Available, Server Keep Alive) are obeyed, reading "
        "topics are sent once per connection and then as topic aliases, and refusals come with "
        "reason codes that the log names. Needs `client = \"lean\"`. See docs: delivery.")
    session_expiry: int = Field(
        0, ge=0, le=0xFFFFFFFF,
        description="MQTT 5: seconds the broker keeps this client's session after a disconnect "
        "(0: the session ends with the connection, as the gateway resends what was not "
        "acknowledged itself). Only with `protocol = 5`.")
    message_expiry: int | None = Field(
        None, ge=1, le=0xFFFFFFFF,
        description="MQTT 5: seconds after which a reading not yet delivered to a subscriber is "
        "dropped by the broker (a late subscriber does not get hour-old values as new; counted "
        "from when the broker receives it). Unset: readings never expire. Only with "
        "`protocol = 5`.")

    @model_validator(mode="after")
    def _check_protocol(self) -> Self:
        if self.protocol == 5 and self.client != "lean":
            raise ValueError('protocol: MQTT 5 needs client = "lean"')
        for name in ("session_expiry", "message_expiry"):
            if name in self.model_fields_set and self.protocol != 5 and getattr(self, name):
                raise ValueError(f"{name}: an MQTT 5 feature; set protocol = 5")
        return self

    @model_validator(mode="after")
    def _check_auth_and_tls(self) -> Self:
        if self.password is not None and self.password_file is not None:
            raise ValueError("password_file: set either password or password_file, not both")
        if self.username is None and (self.password is not None or self.password_file is not None):
            # MQTT 3.1.1 [MQTT-3.1.2-22]: no password without a user name.
            raise ValueError("username: a password is set but no username")
        for name in ("ca_file", "cert_file", "key_file"):
            if getattr(self, name) is not None and not self.tls:
                raise ValueError(f"{name}: set, but tls is false (set tls = true)")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file: cert_file and key_file go together")
        if self.tls_insecure and not self.tls:
            raise ValueError("tls_insecure: only makes sense with tls = true")
        if any(c in self.topic_root for c in "+#\x00") or self.topic_root.startswith("$"):
            raise ValueError("topic_root: must not contain '+', '#', NUL or start with '$'")
        return self

    def secret(self) -> SecretStr | None:
        """The password, from ``password`` (file or env) or read from ``password_file``."""
        if self.password_file is None:
            return self.password
        return SecretStr(self.password_file.read_text(encoding="utf-8").strip())


class BufferSection(StrictModel):
    max_readings: int = Field(100_000, gt=0)
    overflow: Literal["drop_oldest", "drop_newest"] = "drop_oldest"
    max_bytes: int = Field(64 * 1024 * 1024, gt=0)  # topic + payload bytes held
    max_age: float | None = Field(None, gt=0)  # seconds; older undelivered readings are dropped
    path: Path | None = None  # set: the SQLite disk outbox; unset: memory (lost on restart)
    commit_interval: float = Field(0.1, gt=0, le=60)  # disk outbox: seconds between commits...
    commit_readings: int = Field(1000, gt=0)  # ...or sooner, once this many readings wait


class HomeAssistantSection(StrictModel):
    """Home Assistant MQTT discovery (see gateway/homeassistant/discovery.py)."""

    discovery: bool = False
    prefix: str = Field("homeassistant", min_length=1)
    support_url: str | None = None  # origin.support_url in the discovery payloads
    # Entity ids begin with the gateway id (sensor.<gateway>_<device>_<sensor>) instead of
    # sensor.<device>_<sensor>: two gateways with the same device ids never collide.
    gateway_in_entity_ids: bool = False
    # Spell the micro prefix of units (µg/m³) with U+00B5 MICRO SIGN, as Home Assistant up to
    # its mid-2025 change does (2025.4 warns about U+03BC); default: U+03BC, as current HA.
    micro_sign: bool = False
    # Seconds after a discovery message is sent until every sensor's current reading is sent
    # again (Home Assistant subscribes to a new entity's state topic only after discovery).
    replay_delays: tuple[Annotated[float, Field(gt=0, le=300)], ...] = Field(
        (2.0, 10.0), min_length=1, max_length=5)

    @model_validator(mode="after")
    def _prefix_is_a_topic(self) -> Self:
        if any(c in self.prefix for c in "+#\x00") or self.prefix.startswith("$"):
            raise ValueError("prefix: must not contain '+', '#', NUL or start with '$'")
        return self

SPARKPLUG_ID = re.compile(r"[^/+#\x00-\x1f]+")


class SparkplugSection(StrictModel):
    """Sparkplug B edge node (see gateway/sparkplug and docs: sparkplug)."""

    enabled: bool = Field(
        False, description="Publish readings as a Sparkplug B edge node (Eclipse Sparkplug 3.0: "
        "NBIRTH/DBIRTH/DDATA/DDEATH/NDEATH under `spBv1.0/<group_id>/...`) instead of the JSON "
        "reading topics. See docs: sparkplug.")
    group_id: str | None = Field(
        None, description="The Sparkplug group this edge node belongs to (required when "
        "enabled).")
    edge_node_id: str | None = Field(
        None, description="The edge node id; default: the gateway id.")
    primary_host_id: str | None = Field(
        None, description="The primary host application's id: while its "
        "`spBv1.0/STATE/<id>` says offline the node sends no births or data, and readings "
        "wait in the buffer; they go out afterwards flagged historical.")

    @model_validator(mode="after")
    def _ids_are_sparkplug_ids(self) -> Self:
        for name in ("group_id", "edge_node_id", "primary_host_id"):
            value = getattr(self, name)
            if value is not None and not SPARKPLUG_ID.fullmatch(value):
                raise ValueError(f"{name}: must not be empty or contain '/', '+', '#' or "
                                 "control characters (a Sparkplug topic level)")
        if self.enabled and self.group_id is None:
            raise ValueError("group_id: required when enabled = true")
        return self


class MetricsSection(StrictModel):
    listen: str | None = None  # "127.0.0.1:9108" or "[::1]:9108"; None: no metrics endpoint

    @model_validator(mode="after")
    def _listen_is_host_port(self) -> Self:
        if self.listen is not None:
            parse_listen(self.listen)
        return self

    def address(self) -> tuple[str, int] | None:
        return None if self.listen is None else parse_listen(self.listen)


def parse_host_port(text: str, *, key: str, example: str = "127.0.0.1:1883") -> tuple[str, int]:
    """``host:port`` (IPv6 in brackets) as ``(host, port)``; ValueError naming ``key``."""
    host, sep, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{key}: must be host:port, e.g. \"{example}\"")
    return host, int(port)


def format_host_port(host: str, port: int) -> str:
    """``host:port``, an IPv6 address in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_listen(text: str) -> tuple[str, int]:
    """The metrics ``listen`` address; ValueError naming ``listen``."""
    return parse_host_port(text, key="listen", example="127.0.0.1:9108")


def _device_union(kinds: list[str] | None = None) -> Any:  # noqa: ANN401 - built at run time
    models = tuple(registry.config_models(kinds).values())
    return Annotated[Union[models], Field(discriminator="driver")]  # noqa: UP007


class Settings(BaseSettings):
    """The whole configuration file."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        nested_model_default_partial_update=True,
    )

    gateway: GatewaySection = Field(default_factory=GatewaySection)
    mqtt: MqttSection = Field(default_factory=MqttSection)
    buffer: BufferSection = Field(default_factory=BufferSection)
    homeassistant: HomeAssistantSection = Field(default_factory=HomeAssistantSection)
    metrics: MetricsSection = Field(default_factory=MetricsSection)
    sparkplug: SparkplugSection = Field(default_factory=SparkplugSection)
    devices: list[DeviceConfig] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_TOML_PATH.get())
        return (init_settings, env_settings, toml)

    @property
    def topic_root(self) -> str:
        return self.mqtt.topic_root.replace("{gateway_id}", self.gateway.id)

    def expanded_devices(self) -> list[DeviceConfig]:
        """Every device, with ``count = N`` stamped out into N devices."""
        return [one for device in self.devices for one in device.expand()]


def _settings_class(kinds: list[str] | None = None) -> type[Settings]:
    """Settings whose ``devices`` is the discriminated union of these driver kinds' models
    (default: every known kind)."""
    union = _device_union(kinds)

    class Loaded(Settings):
        devices: list[union] = Field(default_factory=list)  # type: ignore[valid-type]

    return Loaded


# --- error translation -------------------------------------------------------------------------

def _short_message(kind: str, ctx: dict[str, Any]) -> str | None:  # noqa: PLR0911 - a table
    match kind:
        case "missing":
            return "required key is missing"
        case "extra_forbidden":
            return "unknown key"
        case "greater_than":
            return f"must be > {ctx['gt']}"
        case "greater_than_equal":
            return f"must be >= {ctx['ge']}"
        case "less_than":
            return f"must be < {ctx['lt']}"
        case "less_than_equal":
            return f"must be <= {ctx['le']}"
        case "string_too_short" | "too_short":
            return "must not be empty"
        case "literal_error":
            return f"must be {ctx['expected']}"
        case "union_tag_invalid":
            known = ", ".join(repr(kind) for kind in registry.known_kinds())
            return f"unknown driver {ctx['tag']!r}; known drivers: {known}"
        case "union_tag_not_found":
            return f"missing 'driver'; known drivers: {', '.join(registry.known_kinds())}"
    return None


def _key_path(loc: tuple[str | int, ...]) -> str:
    parts: list[str] = []
    kinds = set(registry.known_kinds())
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif i > 0 and isinstance(loc[i - 1], int) and item in kinds:
            continue  # the discriminator's own level, not a TOML key
        else:
            parts.append(("." if parts else "") + item)
    return "".join(parts)


def _message(error: Any) -> str:  # noqa: ANN401 - pydantic's ErrorDetails
    short = _short_message(error["type"], error.get("ctx", {}))
    if short is not None:
        return short
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


_KEYED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?): (.+)$", re.DOTALL)


def _model_in(tp: Any) -> type[BaseModel] | None:  # noqa: ANN401 - any annotation
    """The pydantic model inside an annotation (``X``, ``X | None``, ``list[X]``...)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    for arg in get_args(tp):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _keys_at(loc: tuple[str | int, ...], root: type[BaseModel]) -> list[str]:
    """The keys the table at ``loc`` accepts (for "did you mean")."""
    model: type[BaseModel] | None = root
    kinds = registry.config_models()
    for item in loc:
        if model is None:
            return []
        if isinstance(item, int):
            continue
        field = model.model_fields.get(item)
        # no such field: the discriminator's level, whose key is the driver kind
        model = _model_in(field.annotation) if field is not None else kinds.get(item)
    return list(model.model_fields) if model is not None else []


def _suggestion(loc: tuple[str | int, ...], root: type[BaseModel]) -> str:
    key = loc[-1] if loc else ""
    if not isinstance(key, str):
        return ""
    close = difflib.get_close_matches(key, _keys_at(loc[:-1], root), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _problem(
    error: Any,  # noqa: ANN401 - pydantic's ErrorDetails
    root: type[BaseModel] | None = None,
) -> tuple[str, str]:
    """(key path, message). A model validator names its key as ``"key: message"``."""
    key, message = _key_path(tuple(error["loc"])), _message(error)
    if error["type"] == "extra_forbidden" and root is not None:
        message += _suggestion(tuple(error["loc"]), root)
    keyed = _KEYED.match(message) if error["type"] == "value_error" else None
    if keyed:
        key = f"{key}.{keyed[1]}" if key else keyed[1]
        message = keyed[2]
    return key, message


def translate(exc: ValidationError, root: type[BaseModel] | None = None) -> ConfigError:
    """A pydantic ValidationError as a ConfigError: key paths, short messages, no values; an
    unknown key of a ``root`` model's table gets the closest known key as a suggestion."""
    return ConfigError([_problem(e, root) for e in exc.errors()])


# --- loading ------------------------------------------------------------------------------------


def default_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config``, else ``$SENSOR_GATEWAY_CONFIG``, else ``./config.toml``, else /etc."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if env:
        return Path(env)
    local = Path("config.toml")
    return local if local.is_file() else SYSTEM_CONFIG


def load_config(path: Path) -> Settings:
    """Read, validate and cross-check the TOML file at ``path`` (plus environment overrides)."""
    data = _check_syntax(path)
    token = _TOML_PATH.set(path)
    model = _settings_class(_kinds_used(data))
    try:
        settings = model()
    except ValidationError as exc:
        raise translate(exc, model) from None
    except SettingsError as exc:
        raise ConfigError.single("", f"environment override: {_first_line(exc)}") from None
    finally:
        _TOML_PATH.reset(token)
    _check_devices(settings)
    _check_files(settings.mqtt)
    if settings.sparkplug.enabled and settings.homeassistant.discovery:
        raise ConfigError.single("homeassistant.discovery", "Home Assistant discovery needs the "
                                 "JSON reading topics; Sparkplug (sparkplug.enabled) replaces "
                                 "them: turn one of the two off")
    return settings


def _kinds_used(data: dict[str, Any]) -> list[str] | None:
    """The known driver kinds the file's devices use: only their config models are imported
    and validated against (a gateway of simulated sensors does not hold the BLE and serial
    models, about 2 MB). None (every kind) where that cannot be told from the file: devices
    given in the environment, or none of a known kind. A device of an unknown kind is still
    refused by name, with every known kind listed."""
    if any(name.upper().startswith(f"{ENV_PREFIX}DEVICES") for name in os.environ):
        return None
    devices = data.get("devices")
    if not isinstance(devices, list):
        return None
    named = {device.get("driver") for device in devices if isinstance(device, dict)}
    used = sorted(kind for kind in registry.known_kinds() if kind in named)
    return used or None


def _check_syntax(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError.single("", f"config file not found: {path}") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise ConfigError.single("", f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError.single("", f"{path}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError.single("", f"{path}: not UTF-8 text") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"\s+", " ", text)


def _check_devices(settings: Settings) -> None:
    seen: dict[str, int] = {}
    problems: list[tuple[str, str]] = []
    for index, device in enumerate(settings.devices):
        for one in device.expand():
            key = sanitize(one.id)
            if key in seen:
                problems.append(
                    (f"devices[{index}].id", f"duplicate device id {one.id!r} "
                     f"(also devices[{seen[key]}])")
                )
            else:
                seen[key] = index
    if problems:
        raise ConfigError(problems)


def _check_files(mqtt: MqttSection) -> None:
    if mqtt.password_file is not None:
        try:
            mqtt.secret()
        except OSError as exc:
            raise ConfigError.single("mqtt.password_file", f"cannot read: {exc.strerror}") from None
    for name in ("ca_file", "cert_file", "key_file"):
        path = getattr(mqtt, name)
        if path is not None and not Path(path).is_file():
            raise ConfigError.single(f"mqtt.{name}", "file not found")

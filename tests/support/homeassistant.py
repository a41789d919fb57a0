"""A real Home Assistant for the tests, as a user runs it, read through its own WebSocket API.

- Installed by ``.ci/homeassistant-venv`` (``.ci/run`` calls it) in its own virtual environment
  outside the repository (it needs a newer Python than the gateway), cached between runs:
  ``${SENSOR_GATEWAY_CACHE:-~/.cache/sensor-gateway}/homeassistant-<HA_VERSION>``. Missing: the
  test skips on a developer's machine and FAILS under CI=true.
- A fresh config dir per instance, seeded before the first start as a user's finished setup
  leaves it: onboarding done, the MQTT integration's config entry (broker, discovery on) and an
  owner with a long-lived access token in ``.storage``; ``configuration.yaml`` loads only what the
  checks need (http on 127.0.0.1 and a free port, websocket_api, recorder, history, logger).
- Checks read HA's device and entity registries, its state machine and its recorder's history,
  and its log (``home-assistant.log``): what a user sees in the UI comes from exactly these.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import websockets

from support.broker import free_port
from support.components import require
from support.daemon import REPO

__all__ = ["HA_VERSION", "HomeAssistant", "ha_venv"]

BUILDER = REPO / ".ci" / "homeassistant-venv"


def _default_version() -> str:
    """The version the builder script installs by default (the one place it is written)."""
    found = re.search(r'version="\$\{HA_VERSION:-([^}]+)\}"', BUILDER.read_text())
    assert found, f"no default HA_VERSION in {BUILDER}"
    return found[1]


HA_VERSION = os.environ.get("HA_VERSION") or _default_version()
T = TypeVar("T")


def ha_venv() -> Path:
    """The Home Assistant venv ``.ci/homeassistant-venv`` builds (skip, or fail in CI, if absent)."""
    cache = Path(os.environ.get("SENSOR_GATEWAY_CACHE", Path.home() / ".cache" / "sensor-gateway"))
    venv = cache / f"homeassistant-{HA_VERSION}"
    found = (venv / ".complete").exists() and (venv / "bin" / "hass").exists()
    require(f"Home Assistant {HA_VERSION}", found, "build it with .ci/homeassistant-venv")
    return venv


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def access_token(refresh_token_id: str, jwt_key: str, lifetime: int = 3600 * 24) -> str:
    """An HS256 JWT as HA issues for a refresh token (``iss`` = its id, signed with its key)."""
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps({"iss": refresh_token_id, "iat": now, "exp": now + lifetime}).encode())
    signature = hmac.new(jwt_key.encode(), f"{header}.{claims}".encode(), hashlib.sha256)
    return f"{header}.{claims}.{_b64(signature.digest())}"


def _store(key: str, data: dict[str, Any], version: int = 1, minor: int = 1) -> str:
    return json.dumps({"version": version, "minor_version": minor, "key": key, "data": data},
                      indent=2)


class HomeAssistant:
    """One Home Assistant process on a config dir seeded for an MQTT broker."""

    def __init__(self, config_dir: Path, broker_host: str, broker_port: int) -> None:
        self.venv = ha_venv()
        self.config_dir = config_dir
        self.broker = (broker_host, broker_port)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._token = ""
        self._ws: Any = None
        self._next_id = 1
        self._lock = asyncio.Lock()
        self.seed()

    @property
    def log_file(self) -> Path:
        return self.config_dir / "home-assistant.log"

    # --- the config dir ------------------------------------------------------------------------

    def seed(self) -> None:
        storage = self.config_dir / ".storage"
        storage.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "configuration.yaml").write_text(self._configuration())
        now = datetime.now(UTC).isoformat()
        (storage / "onboarding").write_text(_store("onboarding", {
            "done": ["user", "core_config", "analytics", "integration"]}, version=4))
        (storage / "core.config_entries").write_text(_store("core.config_entries", {
            "entries": [self._mqtt_entry(now)]}, minor=5))
        (storage / "auth").write_text(_store("auth", self._auth(now)))

    def _configuration(self) -> str:
        db = self.config_dir / "home-assistant_v2.db"
        return (
            "homeassistant:\n  name: sensor-gateway test\n  unit_system: metric\n"
            "  time_zone: UTC\n  latitude: 52.37\n  longitude: 4.89\n  elevation: 0\n"
            "  currency: EUR\n  country: NL\n  language: en\n"
            f"http:\n  server_host: 127.0.0.1\n  server_port: {self.port}\n"
            "websocket_api:\n"
            f"recorder:\n  db_url: sqlite:///{db}\n  commit_interval: 0\n"
            "history:\n"
            "logger:\n  default: info\n"
        )

    def _mqtt_entry(self, now: str) -> dict[str, Any]:
        host, port = self.broker
        return {
            "entry_id": uuid.uuid4().hex, "version": 1, "minor_version": 2, "domain": "mqtt",
            "title": host, "data": {"broker": host, "port": port},
            "options": {"discovery": True, "discovery_prefix": "homeassistant"},
            "pref_disable_new_entities": False, "pref_disable_polling": False,
            "source": "user", "unique_id": None, "disabled_by": None, "discovery_keys": {},
            "subentries": [], "created_at": now, "modified_at": now,
        }

    def _auth(self, now: str) -> dict[str, Any]:
        user_id, token_id, jwt_key = uuid.uuid4().hex, uuid.uuid4().hex, secrets.token_hex(64)
        self._token = access_token(token_id, jwt_key)
        return {
            "users": [{"id": user_id, "group_ids": ["system-admin"], "is_owner": True,
                       "is_active": True, "name": "test", "system_generated": False,
                       "local_only": False}],
            "groups": [{"id": "system-admin", "name": "Administrators"}],
            "credentials": [],
            "refresh_tokens": [{
                "id": token_id, "user_id": user_id, "client_id": None,
                "client_name": "sensor-gateway tests", "client_icon": None,
                "token_type": "long_lived_access_token", "created_at": now,
                "access_token_expiration": 3600 * 24 * 365, "token": secrets.token_hex(64),
                "jwt_key": jwt_key, "last_used_at": None, "last_used_ip": None,
                "expire_at": None, "credential_id": None, "version": None,
            }],
        }

    # --- the process ---------------------------------------------------------------------------

    async def start(self, timeout: float = 180) -> HomeAssistant:
        """Start HA and return once its API answers and the MQTT integration is connected."""
        self._spawn()
        await self.wait_for(self._mqtt_loaded, timeout)
        return self

    def _spawn(self) -> None:
        """``hass`` as a user starts it (``--skip-pip``: the venv has every requirement; HA
        installing packages at run time would hide a missing one). Its log: ``log_file``."""
        self.proc = subprocess.Popen(
            [str(self.venv / "bin" / "hass"), "--config", str(self.config_dir), "--skip-pip"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    async def _mqtt_loaded(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"Home Assistant exited ({self.proc.returncode}):\n{self.log_tail()}")
        try:
            entries = await self.call("config_entries/get", domain="mqtt")
        except (TimeoutError, OSError, websockets.WebSocketException):
            await self._drop()
            return False
        return bool(entries) and entries[0]["state"] == "loaded"

    async def stop(self, timeout: float = 60) -> None:
        """A clean stop (SIGTERM, as systemd or docker stop does)."""
        await self._drop()
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            await asyncio.to_thread(self.proc.wait)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_file.exists():
            return "(no log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def log_problems(self, *needles: str) -> list[str]:
        """WARNING/ERROR lines of HA's log that mention any of ``needles`` (case-insensitive)."""
        if not self.log_file.exists():
            return []
        found = []
        for line in self.log_file.read_text(errors="replace").splitlines():
            if (" WARNING " in line or " ERROR " in line or " CRITICAL " in line) and any(
                    n.lower() in line.lower() for n in needles):
                found.append(line)
        return found

    # --- the WebSocket API ---------------------------------------------------------------------

    async def call(self, kind: str, **fields: Any) -> Any:
        """One WebSocket command; its result (raises on an error reply)."""
        async with self._lock, asyncio.timeout(30):
            ws = await self._connected()
            message_id, self._next_id = self._next_id, self._next_id + 1
            await ws.send(json.dumps({"id": message_id, "type": kind, **fields}))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == message_id and reply.get("type") == "result":
                    break
        if not reply["success"]:
            raise RuntimeError(f"{kind}: {reply['error']}")
        return reply["result"]

    async def _connected(self) -> Any:
        if self._ws is None:
            ws = await websockets.connect(f"ws://127.0.0.1:{self.port}/api/websocket",
                                          max_size=None)
            assert json.loads(await ws.recv())["type"] == "auth_required"
            await ws.send(json.dumps({"type": "auth", "access_token": self._token}))
            answer = json.loads(await ws.recv())
            if answer["type"] != "auth_ok":
                await ws.close()
                raise RuntimeError(f"Home Assistant refused the seeded token: {answer}")
            self._ws = ws
        return self._ws

    async def _drop(self) -> None:
        if self._ws is not None:
            ws, self._ws = self._ws, None
            await ws.close()

    async def states(self) -> dict[str, dict[str, Any]]:
        return {s["entity_id"]: s for s in await self.call("get_states")}

    async def devices(self) -> list[dict[str, Any]]:
        return list(await self.call("config/device_registry/list"))

    async def entities(self) -> list[dict[str, Any]]:
        return list(await self.call("config/entity_registry/list"))

    async def history(self, entity_ids: list[str], since: datetime) -> dict[str, list[str]]:
        """entity id -> every state the recorder holds for it since ``since``, oldest first
        (the WebSocket API's compressed rows: ``s`` is the state)."""
        found = await self.call(
            "history/history_during_period", start_time=since.isoformat(),
            entity_ids=entity_ids, minimal_response=False, no_attributes=True,
            significant_changes_only=False)
        return {entity: [row["s"] for row in rows] for entity, rows in found.items()}

    async def wait_for(self, predicate: Callable[[], Awaitable[T | None]], timeout: float = 30,
                       interval: float = 0.25) -> T:
        """Poll an async ``predicate`` until it is truthy; TimeoutError after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := await predicate()):
                    await asyncio.sleep(interval)
                return result
        except TimeoutError:
            raise TimeoutError(f"Home Assistant: not within {timeout}s; log:\n"
                               f"{self.log_tail()}") from None

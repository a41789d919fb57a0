"""The gateway against a real Home Assistant (support/homeassistant.py), as a user runs both.

One Home Assistant (and its own Mosquitto) for the whole module; the gateway runs as a real
process, so SIGTERM and SIGKILL are real. Everything asserted is read back from Home Assistant
itself: its device and entity registries, its state machine, its recorder, its log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from support.broker import Mosquitto
from support.daemon import REPO, base_config, simulated
from support.homeassistant import HomeAssistant
from support.mqtt import Collector, collect

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]

UNAVAILABLE = "unavailable"
UNKNOWN = "unknown"


@pytest.fixture(scope="module")
def ha_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """Home Assistant's own broker: no other test's retained discovery reaches it."""
    with Mosquitto(tmp_path_factory.mktemp("ha-broker")) as broker:
        yield broker


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ha(tmp_path_factory: pytest.TempPathFactory,
             ha_broker: Mosquitto) -> AsyncIterator[HomeAssistant]:
    instance = HomeAssistant(tmp_path_factory.mktemp("homeassistant"), ha_broker.host,
                             ha_broker.port)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.stop()


class GatewayProcess:
    """``sensor-gateway run`` as systemd runs it; its output goes to a file."""

    def __init__(self, workdir: Path, config: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "config.toml"
        self.config.write_text(config)
        self.log = workdir / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run", "--config", str(self.config)],
                env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=out,
                stderr=subprocess.STDOUT)
        return self

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)
        self.proc.wait(30)

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def gateway_config(broker: Mosquitto, gateway_id: str, devices: str, ha_extra: str = "") -> str:
    """``micro_sign``: HA 2025.4 (the newest on this machine's Python 3.13.0) still spells the
    micro prefix U+00B5 and warns about U+03BC, the default for current HA."""
    ha = f"[homeassistant]\ndiscovery = true\nmicro_sign = true\n{ha_extra}"
    return base_config(broker.port, gateway_id, ha) + devices


async def our_entities(ha: HomeAssistant, gateway_id: str) -> dict[str, dict[str, Any]]:
    """unique_id -> registry entry of this gateway's MQTT entities (its devices' sensors and
    its own connectivity sensor)."""
    return {e["unique_id"]: e for e in await ha.entities()
            if e["platform"] == "mqtt" and e["unique_id"].startswith(
                (f"{gateway_id}_", f"sensor-gateway_{gateway_id}_"))}


async def our_devices(ha: HomeAssistant, gateway_id: str) -> dict[str, dict[str, Any]]:
    """Our identifier -> device registry entry of this gateway's devices."""
    found = {}
    for device in await ha.devices():
        for domain, ident in device["identifiers"]:
            if domain == "mqtt" and ident.startswith(f"sensor-gateway_{gateway_id}"):
                found[ident] = device
    return found


def published(sub: Collector, topic: str) -> list[float]:
    return [float(m.json["value"]) for m in sub.on(topic) if m.payload]


def mqtt_problems(ha: HomeAssistant) -> list[str]:
    return ha.log_problems("mqtt")


KITCHEN = simulated("kitchen", 1, '["temperature", "humidity", "pressure", "battery"]')
OFFICE = simulated("office", 1, '["co2", "pm25", {name = "office_lamp", min = 0, max = 60, '
                   'unit = "W"}]', 'layout = "device"\nname = "Home office"')
STEADY = simulated("vault", 0.5, '[{name = "level", min = 0, max = 100, base = 42, '
                   'amplitude = 0, noise = 0, drift = 0}]', "deadband = 0")  # sent once


def ble(device_id: str, address: str, extra: str) -> str:
    """A BLE device on the simulated adapter (real decoders, adverts made in-process)."""
    return (f'[[devices]]\nid = "{device_id}"\ndriver = "ble"\naddress = "{address}"\n'
            f'adapter = "simulated"\nsimulate = {{ every = 0.5 }}\n{extra}\n')


BLE = ble("porch", "A4:C1:38:00:00:01", "") + ble("shed", "C6:00:00:00:00:03", 'decoder = "ruuvi"')


async def test_devices_entities_and_states_as_published(
        tmp_path: Path, ha: HomeAssistant, ha_broker: Mosquitto) -> None:
    since = datetime.now(UTC)
    root = "sensor-gateway/real"
    async with collect(ha_broker.host, ha_broker.port, f"{root}/#") as sub:
        with GatewayProcess(tmp_path, gateway_config(ha_broker, "real", KITCHEN + OFFICE + BLE)):
            entities = await ha.wait_for(lambda: _entities_with_states(ha, "real", 12), 60)
            devices = await our_devices(ha, "real")
            states = await ha.states()

    gateway = devices["sensor-gateway_real"]
    kitchen = devices["sensor-gateway_real_kitchen"]
    assert kitchen["via_device_id"] == gateway["id"]
    assert devices["sensor-gateway_real_office"]["via_device_id"] == gateway["id"]
    assert {e["device_id"] for e in entities.values()} <= {d["id"] for d in devices.values()}
    made = {ident.removeprefix("sensor-gateway_real_"): (d["name"], d["manufacturer"], d["model"])
            for ident, d in devices.items()}
    assert made["kitchen"] == ("Kitchen", "sensor-gateway", "simulated device")
    assert made["office"][0] == "Home office"
    assert made["shed"] == ("Shed", "Ruuvi Innovations", "RuuviTag RAWv2")  # from the decoder
    assert made["porch"][1:] == (None, "BTHome v2")

    # Names people would choose, entity ids fixed by the config (stable across restarts).
    def seen(unique_id: str) -> tuple[str, str]:
        entity_id = entities[unique_id]["entity_id"]
        return entity_id, states[entity_id]["attributes"]["friendly_name"]

    assert seen("real_kitchen_temperature") == ("sensor.kitchen_temperature",
                                                "Kitchen Temperature")
    assert seen("real_office_pm25") == ("sensor.office_pm25", "Home office PM2.5")
    assert seen("real_office_co2") == ("sensor.office_co2", "Home office CO2")
    assert seen("real_office_office_lamp")[1] == "Home office Lamp"  # not "... office lamp"

    expected = {  # unique_id -> (device class, unit, state class)
        "real_kitchen_temperature": ("temperature", "°C", "measurement"),
        "real_kitchen_humidity": ("humidity", "%", "measurement"),
        "real_kitchen_pressure": ("atmospheric_pressure", "hPa", "measurement"),
        "real_kitchen_battery": ("battery", "%", "measurement"),
        "real_office_co2": ("carbon_dioxide", "ppm", "measurement"),
        "real_office_pm25": ("pm25", "\u00b5g/m³", "measurement"),  # HA 2025.4's spelling
        "real_shed_temperature": ("temperature", "°C", "measurement"),
        "real_porch_battery": ("battery", "%", "measurement"),
    }
    for unique_id, (device_class, unit, state_class) in expected.items():
        attributes = states[entities[unique_id]["entity_id"]]["attributes"]
        assert (attributes.get("device_class"), attributes.get("unit_of_measurement"),
                attributes.get("state_class")) == (device_class, unit, state_class), unique_id
    assert entities["real_kitchen_battery"]["entity_category"] == "diagnostic"

    # Every value Home Assistant recorded is one the gateway published on that sensor.
    history = await ha.history([e["entity_id"] for e in entities.values()], since)
    kitchen_temperature = entities["real_kitchen_temperature"]["entity_id"]
    values = [float(s) for s in history[kitchen_temperature] if s not in (UNAVAILABLE, UNKNOWN)]
    assert values and set(values) <= set(published(sub, f"{root}/kitchen/temperature"))
    office = [m.json["readings"]["co2"]["value"] for m in sub.on(f"{root}/office")]
    co2 = [float(s) for s in history[entities["real_office_co2"]["entity_id"]]
           if s not in (UNAVAILABLE, UNKNOWN)]
    assert co2 and set(co2) <= set(office)
    assert mqtt_problems(ha) == []


async def _entities_with_states(ha: HomeAssistant, gateway_id: str,
                                count: int) -> dict[str, dict[str, Any]] | None:
    """This gateway's entities once at least ``count`` of them have a value."""
    entities = await our_entities(ha, gateway_id)
    states = await ha.states()
    valued = [e for e in entities.values()
              if states.get(e["entity_id"], {}).get("state") not in (None, UNKNOWN, UNAVAILABLE)]
    return entities if len(valued) >= count else None


async def _all_states(ha: HomeAssistant, gateway_id: str, wanted: str) -> bool:
    entities = await our_entities(ha, gateway_id)
    states = await ha.states()
    sensors = [e for e in entities.values() if not e["unique_id"].startswith("sensor-gateway_")]
    return bool(sensors) and all(
        states[e["entity_id"]]["state"] == wanted for e in sensors)


async def _all_valued(ha: HomeAssistant, gateway_id: str) -> bool:
    entities = await our_entities(ha, gateway_id)
    states = await ha.states()
    sensors = [e for e in entities.values() if not e["unique_id"].startswith("sensor-gateway_")]
    return bool(sensors) and all(
        states[e["entity_id"]]["state"] not in (UNKNOWN, UNAVAILABLE) for e in sensors)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
async def test_entities_unavailable_when_the_gateway_stops(
        tmp_path: Path, ha: HomeAssistant, ha_broker: Mosquitto, signum: int) -> None:
    gateway_id = f"avail-{signum}"
    config = gateway_config(ha_broker, gateway_id, simulated("hall", 1, '["temperature"]'))
    with GatewayProcess(tmp_path, config) as gateway:
        await ha.wait_for(lambda: _all_valued(ha, gateway_id), 60)
        gateway.signal(signum)  # SIGTERM: "offline" on shutdown; SIGKILL: the broker's will
        await ha.wait_for(lambda: _all_states(ha, gateway_id, UNAVAILABLE), 30)
        status = [e for u, e in (await our_entities(ha, gateway_id)).items()
                  if u.startswith("sensor-gateway_")]
        assert (await ha.states())[status[0]["entity_id"]]["state"] == "off"
    with GatewayProcess(tmp_path, config):  # back: available again, with values
        await ha.wait_for(lambda: _all_valued(ha, gateway_id), 60)
    assert mqtt_problems(ha) == []


async def test_removed_device_leaves_home_assistant(
        tmp_path: Path, ha: HomeAssistant, ha_broker: Mosquitto) -> None:
    both = gateway_config(ha_broker, "rm", simulated("keep", 1) + simulated("gone", 1))
    with GatewayProcess(tmp_path / "first", both):
        await ha.wait_for(lambda: _has_devices(ha, "rm", {"keep", "gone"}), 60)
    one = gateway_config(ha_broker, "rm", simulated("keep", 1))
    with GatewayProcess(tmp_path / "second", one):
        await ha.wait_for(lambda: _has_devices(ha, "rm", {"keep"}, exactly=True), 60)
    entities = await our_entities(ha, "rm")
    assert not [u for u in entities if u.startswith("rm_gone")]
    assert mqtt_problems(ha) == []


async def _has_devices(ha: HomeAssistant, gateway_id: str, names: set[str], *,
                       exactly: bool = False) -> bool:
    devices = await our_devices(ha, gateway_id)
    present = {ident.removeprefix(f"sensor-gateway_{gateway_id}_")
               for ident in devices if ident != f"sensor-gateway_{gateway_id}"}
    return present == names if exactly else names <= present


async def _state(ha: HomeAssistant, unique_id: str) -> str | None:
    entities = {e["unique_id"]: e for e in await ha.entities()}
    if unique_id not in entities:
        return None
    return (await ha.states()).get(entities[unique_id]["entity_id"], {}).get("state")


async def test_steady_sensor_has_its_value_at_once(
        tmp_path: Path, ha: HomeAssistant, ha_broker: Mosquitto) -> None:
    """Report-by-exception without a heartbeat: the value goes out once, at the moment HA
    learns of the entity and before it subscribes. It must still show within seconds."""
    with GatewayProcess(tmp_path, gateway_config(ha_broker, "steady", STEADY)):
        await ha.wait_for(lambda: _state(ha, "steady_vault_level"), 60)  # discovered
        state = await ha.wait_for(lambda: _valued(ha, "steady_vault_level"), 8)
    assert float(state) == 42.0
    assert mqtt_problems(ha) == []


async def _valued(ha: HomeAssistant, unique_id: str) -> str | None:
    state = await _state(ha, unique_id)
    return state if state not in (None, UNKNOWN, UNAVAILABLE) else None


async def test_home_assistant_restart_shows_every_value_again(
        tmp_path: Path, ha: HomeAssistant, ha_broker: Mosquitto) -> None:
    """HA restarted while the gateway runs: after its birth message every entity has a value
    within seconds, the steady sensor's included (last in the module: restarts the shared HA)."""
    config = gateway_config(ha_broker, "restart", STEADY + KITCHEN.replace(
        'id = "kitchen"', 'id = "larder"'))
    with GatewayProcess(tmp_path, config):
        await ha.wait_for(lambda: _all_valued(ha, "restart"), 60)
        before = {u: e["entity_id"] for u, e in (await our_entities(ha, "restart")).items()}
        await ha.stop()
        await ha.start()
        await ha.wait_for(lambda: _all_valued(ha, "restart"), 15)
        assert float(await _state(ha, "restart_vault_level") or "nan") == 42.0
        after = {u: e["entity_id"] for u, e in (await our_entities(ha, "restart")).items()}
    assert after == before  # the same entities, the same entity ids
    assert mqtt_problems(ha) == []

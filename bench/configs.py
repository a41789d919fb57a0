"""TOML configurations for the scenarios."""

from __future__ import annotations

from pathlib import Path

SENSORS = "[" + ", ".join(f'{{ name = "s{n}", profile = "temperature" }}' for n in range(20)) + "]"


def disk_outbox_available() -> bool:
    from gateway.config import BufferSection  # noqa: PLC0415

    return "path" in BufferSection.model_fields


def gateway(port: int, *, qos: int = 1, inflight: int = 100, buffer: str = "",
            extra_mqtt: str = "", max_readings: int = 1_000_000) -> str:
    return (f'[gateway]\nid = "bench"\nshutdown_timeout = 1\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nqos = {qos}\n'
            f"max_inflight = {inflight}\nreconnect_delay_max = 0.5\n{extra_mqtt}\n"
            f"[buffer]\nmax_readings = {max_readings}\n{buffer}\n")


def disk(workdir: Path, name: str) -> str:
    """A fresh outbox file per scenario (no backlog carried over from another one)."""
    return f'path = "{workdir / f"outbox-{name}.db"}"\n'


def flood(devices: int = 5) -> str:
    """Bench-only driver: 20 sensors per device, producing as fast as the publisher takes them."""
    return (f'[[devices]]\nid = "flood"\ndriver = "bench"\ncount = {devices}\n'
            f"interval = 1\nseed = 1\nsensors = {SENSORS}\n")


def simulated(device_id: str, count: int, sensors: int, interval: float) -> str:
    names = "[" + ", ".join(f'{{ name = "s{n}", profile = "temperature" }}'
                            for n in range(sensors)) + "]"
    return (f'[[devices]]\nid = "{device_id}"\ndriver = "simulated"\ncount = {count}\n'
            f"interval = {interval}\nseed = 1\nsensors = {names}\n")


def serial(link: Path) -> str:
    return (f'[[devices]]\nid = "serial"\ndriver = "serial"\nport = "{link}"\n'
            f'protocol = "json"\n')


def ble(devices: int = 20, every: float = 0.0002) -> str:
    """Simulated Ruuvi tags on the simulated adapter: adverts -> decoder -> readings."""
    return "".join(
        f'[[devices]]\nid = "tag-{n}"\ndriver = "ble"\naddress = "A4:C1:38:00:{n // 256:02X}:'
        f'{n % 256:02X}"\nadapter = "simulated"\n'
        f'simulate = {{ format = "ruuvi", every = {every} }}\n'
        for n in range(1, devices + 1))


def write(workdir: Path, name: str, text: str) -> Path:
    path = workdir / f"{name}.toml"
    path.write_text(text)
    return path

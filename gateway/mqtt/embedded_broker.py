"""An in-process MQTT broker (amqtt) for a laptop with no broker. Not for production."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from gateway.errors import GatewayError

__all__ = ["embedded_broker"]

log = logging.getLogger("gateway.embedded_broker")


async def _port_served(host: str, port: int) -> bool:
    try:
        async with asyncio.timeout(1.0):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@contextlib.asynccontextmanager
async def embedded_broker(host: str, port: int) -> AsyncIterator[None]:
    """Serve MQTT on ``host:port`` while inside; if the port is already served, use that broker."""
    if await _port_served(host, port):
        log.info("embedded broker: %s:%d already has a broker; using it", host, port)
        yield
        return
    try:
        from amqtt.broker import Broker  # noqa: PLC0415 - optional extra, imported on demand
    except ImportError:
        raise GatewayError(
            "mqtt.embedded_broker needs the 'broker' extra: pip install 'sensor-gateway[broker]'"
        ) from None
    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    for noisy in ("amqtt", "transitions"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    broker = Broker(config)
    await broker.start()
    log.warning("embedded broker listening on %s:%d (laptop use only, not for production)",
                host, port)
    try:
        yield
    finally:
        await broker.shutdown()

"""The Prometheus endpoint (``[metrics] listen``), served from the event loop.

Metric values are read from the daemon's own counters at scrape time by a custom collector (no
instrumentation on the hot path beyond :mod:`gateway.delivery.instruments`). The exposition is
rendered by
prometheus-client's ``generate_latest`` and served by a minimal HTTP/1.0 responder on
``asyncio.start_server`` (prometheus-client's own server would start a thread).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from gateway.ops.looplag import LoopMonitor
    from gateway.ops.view import GatewayView

__all__ = ["GatewayCollector", "MetricsServer"]

log = logging.getLogger("gateway.metrics")

P = "sensor_gateway_"
REQUEST_TIMEOUT = 5.0
BIND_RETRY = 30.0


class GatewayCollector(Collector):
    """``reloads()``: configuration reloads applied so far."""

    def __init__(
        self, gateway: GatewayView, loop_monitor: LoopMonitor, reloads: Callable[[], int]
    ) -> None:
        self.gateway = gateway
        self.loop_monitor = loop_monitor
        self.reloads = reloads

    def collect(self) -> Iterator[Metric]:
        yield from self._devices()
        yield from self._buffer()
        yield from self._publisher()
        yield from self._loop()

    def _devices(self) -> Iterator[Metric]:
        now = time.monotonic()
        labels = ["device"]
        produced = CounterMetricFamily(f"{P}readings", "Readings produced by the device "
                                       "(accepted into the buffer)", labels=labels)
        online = GaugeMetricFamily(f"{P}device_online", "1 while the device is online",
                                   labels=labels)
        age = GaugeMetricFamily(f"{P}device_last_reading_age_seconds",
                                "Seconds since the device's last reading (or driver start)",
                                labels=labels)
        restarts = CounterMetricFamily(f"{P}device_restarts", "Driver restarts", labels=labels)
        shed = CounterMetricFamily(f"{P}readings_shed", "Readings shed at the source under "
                                   "overload (the broker took less than the drivers offered; "
                                   "no seq given)", labels=labels)
        errors = CounterMetricFamily(f"{P}decode_errors", "Bad input counted and skipped, "
                                     "by kind", labels=["device", "kind"])
        for device_id, device in self.gateway.devices.items():
            produced.add_metric([device_id], device.readings)
            online.add_metric([device_id], 1.0 if device.online else 0.0)
            age.add_metric([device_id], max(0.0, now - device.last_reading))
            restarts.add_metric([device_id], device.restarts)
            shed.add_metric([device_id], device.shed)
            for kind, count in device.errors.items():
                errors.add_metric([device_id, kind], count)
        yield from (produced, online, age, restarts, shed, errors)

    def _buffer(self) -> Iterator[Metric]:
        stats = self.gateway.buffer.stats()
        yield GaugeMetricFamily(f"{P}buffer_readings", "Readings queued or in flight",
                                value=stats.queued + stats.inflight)
        yield GaugeMetricFamily(f"{P}buffer_inflight", "Readings awaiting the broker's ack",
                                value=stats.inflight)
        yield GaugeMetricFamily(f"{P}buffer_bytes", "Payload bytes held by the buffer",
                                value=stats.bytes)
        yield GaugeMetricFamily(f"{P}shedding", "1 while readings are shed at the source "
                                "(overload: the buffer is above its high-water mark)",
                                value=1.0 if self.gateway.buffer.flow.shedding else 0.0)
        dropped = CounterMetricFamily(f"{P}readings_dropped", "Readings dropped by the "
                                      "buffer's overflow policy", labels=["device"])
        for device_id, count in stats.dropped.items():
            if device_id:
                dropped.add_metric([device_id], count)
        yield dropped

    def _publisher(self) -> Iterator[Metric]:
        publisher = self.gateway.publisher
        yield GaugeMetricFamily(f"{P}mqtt_connected", "1 while connected to the broker",
                                value=1.0 if publisher.connected.is_set() else 0.0)
        yield CounterMetricFamily(f"{P}mqtt_reconnects", "Lost or failed broker connections",
                                  value=publisher.reconnects)
        yield CounterMetricFamily(f"{P}mqtt_published", "Messages the broker acknowledged",
                                  value=publisher.published)
        rejected = CounterMetricFamily(f"{P}readings_rejected", "Readings dropped because "
                                       "they cannot be delivered: too_large (over the broker's "
                                       "packet size limit), refused (by the broker, MQTT 5), "
                                       "quarantined (the broker hung up on it twice), "
                                       "unencodable", labels=["device", "reason"])
        for (device_id, reason), count in sorted(publisher.rejected_by.items()):
            rejected.add_metric([device_id, reason], count)
        yield rejected
        instruments = self.gateway.instruments
        if instruments is None:
            return
        published = CounterMetricFamily(f"{P}readings_published", "Readings the broker "
                                        "acknowledged", labels=["device"])
        failed = CounterMetricFamily(f"{P}readings_failed", "Publish attempts lost with the "
                                     "connection (the reading is retried)", labels=["device"])
        for family, counts in ((published, instruments.published), (failed, instruments.failed)):
            for device_id, count in counts.items():
                if device_id:
                    family.add_metric([device_id], count)
        latency = instruments.latency
        yield from (published, failed, HistogramMetricFamily(
            f"{P}publish_latency_seconds", "From leaving the buffer to the broker's ack",
            buckets=latency.cumulative(), sum_value=latency.sum))

    def _loop(self) -> Iterator[Metric]:
        monitor = self.loop_monitor
        yield GaugeMetricFamily(f"{P}event_loop_lag_seconds", "How late the last periodic "
                                "timer fired", value=monitor.lag)
        yield CounterMetricFamily(f"{P}event_loop_blocks", "Times the loop was blocked for "
                                  "more than 100 ms", value=monitor.blocks)
        yield CounterMetricFamily(f"{P}config_reloads", "Configuration reloads applied",
                                  value=self.reloads())


def build_registry(collector: GatewayCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    return registry


class MetricsServer:
    """``GET /metrics`` over HTTP/1.0 on ``host:port``, one short connection per scrape."""

    def __init__(self, collector: GatewayCollector, host: str, port: int) -> None:
        self.registry = build_registry(collector)
        self.host = host
        self.port = port

    async def run(self) -> None:
        """Serve forever. A bind failure is logged and retried: readings matter more."""
        while True:
            try:
                server = await asyncio.start_server(self._handle, self.host, self.port)
            except OSError as exc:
                log.error("metrics: cannot listen on %s:%d (%s); retrying in %.0fs",  # noqa: TRY400
                          self.host, self.port, exc.strerror or exc, BIND_RETRY)
                await asyncio.sleep(BIND_RETRY)
                continue
            async with server:
                log.info("metrics on http://%s:%d/metrics", self.host, self.port)
                await server.serve_forever()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
                writer.write(self._response(head))
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            pass
        finally:
            writer.close()

    def _response(self, head: bytes) -> bytes:
        method, path = _request_line(head)
        if method not in ("GET", "HEAD"):
            return _http(405, b"method not allowed\n", "text/plain")
        if path.split("?", 1)[0] not in ("/metrics", "/"):
            return _http(404, b"not found; try /metrics\n", "text/plain")
        body = generate_latest(self.registry)
        return _http(200, body, CONTENT_TYPE_LATEST, head_only=method == "HEAD")


def _request_line(head: bytes) -> tuple[str, str]:
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
    return (parts[0], parts[1]) if len(parts) >= 2 else ("", "")


def _http(code: int, body: bytes, content_type: str, *, head_only: bool = False) -> bytes:
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}[code]
    header = (f"HTTP/1.0 {code} {reason}\r\nContent-Type: {content_type}\r\n"
              f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return header.encode() + (b"" if head_only else body)

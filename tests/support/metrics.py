"""Scraping the daemon's Prometheus endpoint over plain HTTP, as Prometheus does."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def http_get(port: int, path: str = "/metrics", method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


def samples(text: str) -> Samples:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def scrape_until(port: int, name: str, labels: dict[str, str], minimum: float,
                       timeout: float = 15) -> Samples:
    key = (name, tuple(sorted(labels.items())))
    async with asyncio.timeout(timeout):
        while True:
            try:
                code, body = await http_get(port)
            except ConnectionError:
                code, body = 0, ""
            if code == 200 and samples(body).get(key, -1) >= minimum:
                return samples(body)
            await asyncio.sleep(0.05)  # polling an HTTP endpoint: there is no event to wait on

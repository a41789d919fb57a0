from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.blemock import bluez_mock, bluez_tools
from support.broker import Mosquitto

# bluez_mock / bluez_tools: a mocked BlueZ on a private D-Bus (support/blemock.py).
__all__ = ["bluez_mock", "bluez_tools", "mosquitto", "own_mosquitto"]


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One real broker for the session. Tests must use their own topic roots."""
    with Mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture
def own_mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A broker this test may stop, kill or pause."""
    broker = Mosquitto(tmp_path / "broker")
    try:
        yield broker.start()
    finally:
        broker.stop()

"""A stop ends a device even when its driver fails as it is cancelled."""

from __future__ import annotations

import asyncio

import pytest
from support.wait import until

from drivers.simulated.config import SimulatedConfig
from gateway.core import registry
from gateway.core.device import Device
from gateway.core.topics import TopicLayout
from gateway.delivery.buffer import MemoryBuffer
from gateway.sdk import DeviceConfig, DeviceContext, Driver, Measurement


class FailsWhenCancelled(Driver[DeviceConfig]):
    """A driver whose cleanup fails: cancelled, it raises an error of its own."""

    async def run(self) -> None:
        self.ctx.emit([Measurement("t", 1.0)])
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed") from None


@pytest.mark.parametrize("stopped", [True, False])
async def test_a_stop_ends_a_device_whose_driver_fails_as_it_is_cancelled(
    monkeypatch: pytest.MonkeyPatch, stopped: bool,
) -> None:
    """Python 3.11's TaskGroup raises the driver's error and drops the cancellation; the
    device must not take that for a failure to restart from when the daemon stops it. (Without
    ``stop()``, as before the fix, the device restarts and runs on.)"""

    def create(config: DeviceConfig, ctx: DeviceContext) -> Driver[DeviceConfig]:
        return FailsWhenCancelled(config, ctx)

    monkeypatch.setattr(registry, "create", create)  # the driver kind: this test's own
    config = SimulatedConfig(id="d", driver="simulated", sensors=["temperature"])
    device = Device(config, MemoryBuffer(), topics=TopicLayout("t"), shared=None,  # type: ignore[arg-type]
                    on_status=lambda _device, _online: None, restart=(0.05, 0.05))
    task = asyncio.create_task(device.run())
    await until(lambda: device.online is True)
    if stopped:
        device.stop()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=1)
    if stopped:
        assert task in done and task.cancelled()
    else:  # the old behaviour, kept here to show the test can tell
        assert not done and device.restarts >= 1
        device.stop()  # and now it does stop
        task.cancel()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 1)

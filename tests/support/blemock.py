"""Real bleak against a mocked BlueZ: a private D-Bus bus plus python-dbusmock's bluez5 template.

No radio, no bluetoothd, no root. bleak's real BlueZ backend talks to the mock over
``DBUS_SYSTEM_BUS_ADDRESS``; tests script adapters, devices and advertisements through
:class:`BlueZMock`. Use the ``bluez_mock`` fixture (import it, and ``bluez_tools`` which it
depends on, into a ``conftest.py``)::

    async def test_scan(bluez_mock: BlueZMock) -> None:
        bluez_mock.add_adapter("hci0")
        async with BleakScanner(callback, bluez={"adapter": "hci0"}):
            bluez_mock.advertise("hci0", "AA:BB:CC:DD:EE:FF", service_data={uuid: data})

GATT is enough for ``BleakClient``: :meth:`BlueZMock.add_characteristic` then connect, read,
write, notify (:meth:`BlueZMock.notify`), disconnect.

bluetoothd dying and coming back: :meth:`BlueZMock.stop_bluez` / :meth:`BlueZMock.start_bluez`
(a fresh mock without adapters); a hung one: SIGSTOP/SIGCONT to :attr:`BlueZMock.process`.

Needs ``dbus-daemon`` (Debian package ``dbus``) and python-dbusmock with dbus-python. Without
them the fixture skips, or fails when ``CI=true``.

Deviations of the mock from a real bluetoothd that matter to a scanner:

* every :meth:`BlueZMock.advertise` emits ``PropertiesChanged``, so bleak's detection
  callback fires even for identical data; bluetoothd emits only changed properties (bleak
  asks for ``DuplicateData: False``), so repeats of an unchanged advert are not delivered;
* ``ServiceData``/``ManufacturerData`` are replaced, not merged per UUID/company id;
* there is no scanning at all: devices "advertise" whether or not discovery is on, so a
  scanner never stopped after its adapter vanished hears a re-added adapter of the same
  name (with bluetoothd the new adapter would not be discovering: silence);
* GATT objects exist from :meth:`BlueZMock.add_characteristic` on, not from connection on.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Protocol

import pytest

BLUEZ = "org.bluez"
DEVICE_IFACE = "org.bluez.Device1"
GATT_SERVICE_IFACE = "org.bluez.GattService1"
GATT_CHAR_IFACE = "org.bluez.GattCharacteristic1"
MOCK_IFACE = "org.freedesktop.DBus.Mock"
OBJECT_MANAGER_IFACE = "org.freedesktop.DBus.ObjectManager"
READY_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

# A dbusmock method: name, input signature, output signature, Python code run in the mock.
DBusMethod = tuple[str, str, str, str]


class MockInterface(Protocol):
    """dbusmock's ``org.freedesktop.DBus.Mock`` interface of one object, the calls used here.

    dbus-python (hence any proxy it returns) is untyped; this types the remote calls made
    through such a proxy.
    """

    def AddObject(
        self,
        path: str,
        interface: str,
        properties: Mapping[str, object],
        methods: Sequence[DBusMethod],
    ) -> None: ...

    def AddMethod(self, interface: str, name: str, in_sig: str, out_sig: str, code: str) -> None: ...

    def UpdateProperties(self, interface: str, properties: Mapping[str, object]) -> None: ...

    def EmitSignal(
        self, interface: str, name: str, signature: str, args: Sequence[object]
    ) -> None: ...


# Device1 methods as dbusmock code strings (run with the device object as ``self``).
_SET_CONNECTED = (
    "self.UpdateProperties('org.bluez.Device1', "
    "{{'Connected': dbus.Boolean({0}), 'ServicesResolved': dbus.Boolean({0})}})"
)
_DEVICE_METHODS: list[DBusMethod] = [
    ("Connect", "", "", _SET_CONNECTED.format(True)),
    ("Disconnect", "", "", _SET_CONNECTED.format(False)),
    ("Pair", "", "", ""),
    ("CancelPairing", "", "", ""),
    ("ConnectProfile", "s", "", ""),
    ("DisconnectProfile", "s", "", ""),
]
_SET_NOTIFYING = (
    "self.UpdateProperties('org.bluez.GattCharacteristic1', {{'Notifying': dbus.Boolean({0})}})"
)
_CHARACTERISTIC_METHODS: list[DBusMethod] = [
    ("ReadValue", "a{sv}", "ay", "ret = self.props['org.bluez.GattCharacteristic1']['Value']"),
    ("WriteValue", "aya{sv}", "", "self.props['org.bluez.GattCharacteristic1']['Value'] = args[0]"),
    ("StartNotify", "", "", _SET_NOTIFYING.format(True)),
    ("StopNotify", "", "", _SET_NOTIFYING.format(False)),
]


class BlueZMock:
    """Script a running mock BlueZ: adapters, devices, advertisements (blocking D-Bus calls).

    Calls are short round trips to the mock process; making them from an async test is fine.
    """

    def __init__(
        self, bus_address: str, log_path: Path, process: subprocess.Popen[bytes] | None = None
    ) -> None:
        import dbus

        self.bus_address = bus_address
        self.log_path = log_path
        self.process = process
        self._dbus = dbus
        self._bus = dbus.bus.BusConnection(bus_address)
        self._connect_proxies()

    def _connect_proxies(self) -> None:
        dbus = self._dbus
        self._root: MockInterface = dbus.Interface(self._bus.get_object(BLUEZ, "/"), MOCK_IFACE)
        self._bluez = dbus.Interface(self._bus.get_object(BLUEZ, "/"), "org.bluez.Mock")
        self._objects = dbus.Interface(self._bus.get_object(BLUEZ, "/"), OBJECT_MANAGER_IFACE)
        self._devices: set[str] = set()
        self._services: dict[tuple[str, str], str] = {}
        self._handles: dict[str, int] = {}

    def stop_bluez(self) -> None:
        """bluetoothd dies: the mock process is terminated (org.bluez leaves the bus)."""
        assert self.process is not None, "only a mock started by running_bluez_mock()"
        _stop(self.process)

    def start_bluez(self) -> None:
        """bluetoothd starts again: a fresh mock, with no adapters, owns org.bluez."""
        self.process = _start_mock(self.bus_address, self.log_path)
        _wait_for_name(self.bus_address, self.process, self.log_path)
        self._connect_proxies()

    @staticmethod
    def device_path(adapter: str, address: str) -> str:
        return f"/org/bluez/{adapter}/dev_{address.upper().replace(':', '_')}"

    def add_adapter(self, name: str = "hci0", system_name: str = "my-computer") -> str:
        """A powered adapter with the central role; returns its object path."""
        return str(self._bluez.AddAdapter(name, system_name))

    def remove_adapter(self, name: str) -> None:
        """Unplug: remove the adapter and its devices, announcing every interface they had.

        The template's ``RemoveAdapterWithDevices`` announces only ``Adapter1``; bleak then
        keeps the adapter's other interfaces cached and still believes it exists. bluetoothd
        removes them all, so the rest is announced here too.
        """
        dbus = self._dbus
        path = f"/org/bluez/{name}"
        objects = self._objects.GetManagedObjects()
        self._bluez.RemoveAdapterWithDevices(name)
        others = [iface for iface in objects.get(path, {}) if iface != "org.bluez.Adapter1"]
        if others:
            self._root.EmitSignal(
                OBJECT_MANAGER_IFACE,
                "InterfacesRemoved",
                "oas",
                [dbus.ObjectPath(path), dbus.Array(others, signature="s")],
            )
        prefix = f"{path}/"
        self._devices = {p for p in self._devices if not p.startswith(prefix)}
        self._services = {k: v for k, v in self._services.items() if not v.startswith(prefix)}

    def add_device(self, adapter: str, address: str, name: str | None = None) -> str:
        """Add a BLE device; returns its object path.

        Not the template's ``AddDevice``: that announces ``ManufacturerData``/``ServiceData``
        as arrays. bleak 3.1 caches them from the signal when the device appears during a
        scan, and its scanner callback then fails (``AttributeError``, logged by dbus-fast)
        on every advert of the device until both properties are set as dicts again. Same
        object here, with correct types.
        """
        dbus = self._dbus
        path = self.device_path(adapter, address)
        props = {
            "Address": dbus.String(address.upper()),
            "AddressType": dbus.String("public"),
            "Adapter": dbus.ObjectPath(f"/org/bluez/{adapter}"),
            "Alias": dbus.String(name or address.upper().replace(":", "-")),
            "Paired": dbus.Boolean(False),
            "Trusted": dbus.Boolean(False),
            "Blocked": dbus.Boolean(False),
            "LegacyPairing": dbus.Boolean(False),
            "Connected": dbus.Boolean(False),
            "ServicesResolved": dbus.Boolean(False),
            "UUIDs": dbus.Array([], signature="s"),
            "RSSI": dbus.Int16(-127),
            "ManufacturerData": dbus.Dictionary({}, signature="qv"),
            "ServiceData": dbus.Dictionary({}, signature="sv"),
        }
        if name is not None:
            props["Name"] = dbus.String(name)
        self._add_object(path, DEVICE_IFACE, props, _DEVICE_METHODS)
        self._devices.add(path)
        return path

    def add_characteristic(
        self,
        adapter: str,
        address: str,
        service_uuid: str,
        char_uuid: str,
        value: bytes = b"",
        flags: tuple[str, ...] = ("read", "notify"),
    ) -> str:
        """A GATT characteristic of an added device (its service made on first use).

        Supports ``ReadValue``, ``WriteValue`` (stores the value), ``StartNotify`` and
        ``StopNotify``; :meth:`notify` changes the value. Unlike bluetoothd, which creates
        GATT objects on connection, these exist from the start; bleak reads them at connect.
        Returns the characteristic's object path.
        """
        dbus = self._dbus
        device = self.device_path(adapter, address)
        service = self._services.get((device, service_uuid))
        if service is None:
            service = f"{device}/service{self._next_handle(device):04x}"
            props = {
                "UUID": dbus.String(service_uuid),
                "Primary": dbus.Boolean(True),
                "Device": dbus.ObjectPath(device),
                "Includes": dbus.Array([], signature="o"),
            }
            self._add_object(service, GATT_SERVICE_IFACE, props, [])
            self._services[(device, service_uuid)] = service
        path = f"{service}/char{self._next_handle(device):04x}"
        props = {
            "UUID": dbus.String(char_uuid),
            "Service": dbus.ObjectPath(service),
            "Value": dbus.Array(value, signature="y"),
            "Flags": dbus.Array(flags, signature="s"),
            "Notifying": dbus.Boolean(False),
        }
        self._add_object(path, GATT_CHAR_IFACE, props, _CHARACTERISTIC_METHODS)
        return path

    def notify(self, char_path: str, value: bytes) -> None:
        """Change a characteristic's value: a notification to a client that started them."""
        changed = {"Value": self._dbus.Array(value, signature="y")}
        self.mock_object(char_path).UpdateProperties(GATT_CHAR_IFACE, changed)

    def notifying(self, char_path: str) -> bool:
        """Whether a client started notifications on this characteristic (and they still run)."""
        properties = self._dbus.Interface(self._bus.get_object(BLUEZ, char_path),
                                          "org.freedesktop.DBus.Properties")
        return bool(properties.Get(GATT_CHAR_IFACE, "Notifying"))

    def drop_link(self, address: str, adapter: str = "hci0") -> None:
        """The peripheral drops the connection: as bluetoothd does, the device is no longer
        connected and its characteristics stop notifying."""
        device = self.device_path(adapter, address)
        for path in self._objects.GetManagedObjects():
            if str(path).startswith(device + "/") and "/char" in str(path):
                self.mock_object(str(path)).UpdateProperties(
                    GATT_CHAR_IFACE, {"Notifying": self._dbus.Boolean(False)})
        self.mock_object(device).UpdateProperties(
            DEVICE_IFACE, {"Connected": False, "ServicesResolved": False})

    def _next_handle(self, device: str) -> int:
        self._handles[device] = self._handles.get(device, 0x0009) + 1
        return self._handles[device]

    def _add_object(
        self, path: str, interface: str, props: dict[str, object], methods: Sequence[DBusMethod]
    ) -> None:
        """Add a mock object and announce it, as bluetoothd does (InterfacesAdded)."""
        dbus = self._dbus
        self._root.AddObject(path, interface, props, methods)
        self._root.EmitSignal(
            OBJECT_MANAGER_IFACE,
            "InterfacesAdded",
            "oa{sa{sv}}",
            [
                dbus.ObjectPath(path),
                dbus.Dictionary({interface: dbus.Dictionary(props, signature="sv")}, "sa{sv}"),
            ],
        )

    def advertise(
        self,
        adapter: str,
        address: str,
        service_data: Mapping[str, bytes] | None = None,
        manufacturer_data: Mapping[int, bytes] | None = None,
        rssi: int = -60,
        uuids: Sequence[str] | None = None,
    ) -> None:
        """Deliver one advertisement (adding the device first if needed).

        ``None`` leaves that property as it was; an empty mapping clears it. ``uuids`` are the
        advertised service UUIDs (the device's ``UUIDs`` property).
        """
        dbus = self._dbus
        path = self.device_path(adapter, address)
        if path not in self._devices:
            self.add_device(adapter, address)
        changed: dict[str, object] = {"RSSI": dbus.Int16(rssi)}
        if uuids is not None:
            changed["UUIDs"] = dbus.Array(list(uuids), signature="s")
        if service_data is not None:
            changed["ServiceData"] = dbus.Dictionary(
                {dbus.String(k): dbus.Array(v, signature="y") for k, v in service_data.items()},
                signature="sv",
            )
        if manufacturer_data is not None:
            changed["ManufacturerData"] = dbus.Dictionary(
                {
                    dbus.UInt16(k): dbus.Array(v, signature="y")
                    for k, v in manufacturer_data.items()
                },
                signature="qv",
            )
        self.mock_object(path).UpdateProperties(DEVICE_IFACE, changed)

    def mock_object(self, path: str) -> MockInterface:
        """The ``org.freedesktop.DBus.Mock`` interface of any mock object (``AddObject``...)."""
        interface: MockInterface = self._dbus.Interface(self._bus.get_object(BLUEZ, path), MOCK_IFACE)
        return interface

    def close(self) -> None:
        self._bus.close()


# --- processes ------------------------------------------------------------------------------


def missing_tools() -> str | None:
    """Why the mock cannot run here, or ``None``."""
    if shutil.which("dbus-daemon") is None:
        return "dbus-daemon not found (Debian package 'dbus')"
    try:
        import dbus  # noqa: F401
        import dbusmock  # noqa: F401
    except ImportError as exc:
        return f"python-dbusmock/dbus-python not importable: {exc}"
    return None


def _start_bus(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A private bus on a socket in ``workdir``; returns the process and its address."""
    proc = subprocess.Popen(
        [
            "dbus-daemon",
            "--session",  # the session policy: anyone may own any name
            f"--address=unix:path={workdir / 'bus'}",
            "--nofork",
            "--print-address=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # only "Failed to set fd limit" as non-root
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=READY_TIMEOUT)
    address = proc.stdout.readline().decode().strip() if ready else ""
    if not address:
        _stop(proc)
        pytest.fail(f"dbus-daemon printed no address within {READY_TIMEOUT} s")
    return proc, address


def _start_mock(bus_address: str, log_path: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bus_address}
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "dbusmock", "--system", "--template", "bluez5"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_for_name(bus_address: str, mock: subprocess.Popen[bytes], log_path: Path) -> None:
    """Poll until the mock owns org.bluez (calls queue from then on), or fail with its log."""
    import dbus

    bus = dbus.bus.BusConnection(bus_address)
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not bus.name_has_owner(BLUEZ):
            if mock.poll() is not None or time.monotonic() > deadline:
                state = f"exited with {mock.returncode}" if mock.returncode is not None else "hung"
                pytest.fail(f"dbusmock bluez5 {state}:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.01)
    finally:
        bus.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate by PID, kill if it lingers, reap."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@contextmanager
def running_bluez_mock() -> Iterator[BlueZMock]:
    """Start bus and mock, yield the driver, stop both (mock first, then the bus)."""
    with ExitStack() as stack:
        # A short path of our own: AF_UNIX paths are limited to 107 bytes.
        workdir = Path(tempfile.mkdtemp(prefix="blemock-"))
        stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        bus_proc, address = _start_bus(workdir)
        stack.callback(_stop, bus_proc)
        log_path = workdir / "dbusmock.log"
        mock_proc = _start_mock(address, log_path)
        mock: BlueZMock | None = None
        # The mock process current at the end (a test may have restarted it).
        stack.callback(lambda: _stop(mock.process if mock and mock.process else mock_proc))
        _wait_for_name(address, mock_proc, log_path)
        mock = BlueZMock(address, log_path, mock_proc)
        stack.callback(mock.close)
        yield mock


@pytest.fixture
def bluez_tools() -> None:
    """Skip the test (fail it when ``CI=true``) unless dbus-daemon and dbusmock are there."""
    reason = missing_tools()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"BlueZ mock unavailable in CI: {reason}")
        pytest.skip(f"BlueZ mock unavailable: {reason}")


@pytest.fixture
def bluez_mock(bluez_tools: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[BlueZMock]:
    """A fresh mock BlueZ per test, with ``DBUS_SYSTEM_BUS_ADDRESS`` pointing at it."""
    del bluez_tools
    with running_bluez_mock() as mock:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", mock.bus_address)
        yield mock

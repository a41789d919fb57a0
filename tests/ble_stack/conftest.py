from tests.blemock import bluez_mock, bluez_tools

__all__ = ["bluez_mock", "bluez_tools"]

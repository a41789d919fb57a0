from tests.blemock import bluez_mock

__all__ = ["bluez_mock"]

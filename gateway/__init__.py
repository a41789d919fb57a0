"""sensor-gateway: read sensors (serial, BLE, simulated) and publish their readings to MQTT."""

__version__ = "0.1.0"
__all__ = ["__version__"]

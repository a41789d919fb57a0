"""Helpers for the test suite: a real Mosquitto, an MQTT collector, the daemon as a process."""

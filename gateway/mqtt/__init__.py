"""The MQTT side: the built-in client and its packets, the publisher (one session at a time,
reconnecting forever) and the embedded broker for laptops."""

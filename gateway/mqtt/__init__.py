"""The MQTT side: the publisher (one session at a time, reconnecting forever, one loop over
:mod:`~gateway.mqtt.session`), the built-in client and its packets (3.1.1 and MQTT 5), the
aiomqtt adapter, the quarantine and reconnect policy, and the embedded broker for laptops."""

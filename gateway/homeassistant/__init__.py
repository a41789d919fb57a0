"""Home Assistant MQTT discovery: the discovery messages and the table of sensor kinds."""

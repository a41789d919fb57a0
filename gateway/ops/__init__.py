"""Operations around the daemon: systemd (sd_notify, watchdog, STATUS), SIGHUP reload,
Prometheus metrics, the stats message and the event-loop monitor."""

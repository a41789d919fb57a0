"""What the publisher says, and how long it waits, while the broker keeps failing it.

- While the broker's port refuses connections (:class:`~gateway.errors.BrokerDown`: it is down
  or restarting) the gateway looks again every ``reconnect_spread`` seconds (+-10 %), the first
  time after a random part of it, whatever the backoff: a refused TCP connection costs the
  broker nothing, the gateway is back within about ``reconnect_spread`` of the broker's return,
  and a fleet that lost the broker at the same moment probes at evenly spread phases, so at
  most about 1 / ``reconnect_spread`` of it reconnects in any one second.
- A session counts as healthy only once it has lasted :data:`STABLE_SESSION` seconds: a CONNACK
  followed by a drop (an oversized message, an ACL, a broker restarting) does not reset the
  backoff, so a flapping connection slows down instead of reconnecting at 5-10 Hz.
- "connected" is INFO for the first :data:`FLAP_QUIET` connections of a run of failures (a
  failover or a reconnect shows), then DEBUG while the connection keeps flapping.
- The first failure of a run of failures is logged with its reason (WARNING; ERROR when the
  broker refuses the credentials or the client, with what to check). The same reason again is
  DEBUG, with a summary line at most every :data:`SUMMARY_EVERY` seconds; a new reason is
  logged at once. A run ends with a healthy session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from gateway.core.backoff import Backoff
from gateway.errors import BrokerDown, MqttNotAuthorised

__all__ = ["STABLE_SESSION", "SUMMARY_EVERY", "ConnectionTrouble"]

log = logging.getLogger("gateway.publisher")

STABLE_SESSION = 10.0  # seconds a session must last before the backoff starts again from 0.2 s
SUMMARY_EVERY = 60.0
FLAP_QUIET = 2  # connects logged at INFO in one run of failures (a failover shows); then DEBUG


class ConnectionTrouble:
    """Backoff and log lines for the publisher's reconnect loop (one per publisher)."""

    def __init__(self, backoff: Backoff, clock: Callable[[], float] = time.monotonic,
                 spread: float = 1.5) -> None:
        self.backoff = backoff
        self.spread = spread
        self._clock = clock
        self._connected_at: float | None = None
        self._reason: str | None = None  # the reason last logged in this run of failures
        self._failures = 0  # in this run
        self._probing = False  # the last attempt found the broker's port closed
        self._connects = 0  # in this run: the first ones are INFO, later ones DEBUG
        self._since_summary = 0
        self._summary_at = 0.0

    @property
    def failing(self) -> bool:
        """In a run of failures (nothing healthy since the last one)."""
        return self._failures > 0

    def connected(self, server: str) -> None:
        self._connected_at = self._clock()
        level = logging.DEBUG if self._connects >= FLAP_QUIET else logging.INFO
        self._connects += 1
        log.log(level, "connected to %s", server)

    def ended(self, error: BaseException | None, server: str, retry: str) -> float:
        """A session ended or an attempt failed: log it, return the delay before the next."""
        now = self._clock()
        if self._connected_at is not None and now - self._connected_at >= STABLE_SESSION:
            self.backoff.reset()  # it was a healthy session: a fresh run of failures starts
            self._failures = self._connects = 0
            self._reason = None
        self._connected_at = None
        delay = self.backoff.next_delay()
        if isinstance(error, BrokerDown):  # nothing listens: look every `spread` seconds
            # from a random phase: a fleet that lost the broker together spreads evenly
            low, high = (0.9, 1.1) if self._probing else (0.0, 1.0)
            delay = self.spread * self.backoff.jitter(low, high)
        self._probing = isinstance(error, BrokerDown)
        self._failures += 1
        self._since_summary += 1
        reason = str(error) if error is not None else "session ended"
        if reason != self._reason:
            self._reason = reason
            self._since_summary = 0
            self._summary_at = now
            self._first(error, reason, server, retry, delay)
        elif now - self._summary_at >= SUMMARY_EVERY:
            log.warning("broker %s still failing: %d more attempts in the last %.0fs, each: %s; "
                        "retrying %sin %.1fs", server, self._since_summary,
                        now - self._summary_at, reason, retry, delay)
            self._since_summary = 0
            self._summary_at = now
        else:
            log.debug("broker %s unavailable (%s); retrying %sin %.1fs",
                      server, reason, retry, delay)
        return delay

    @staticmethod
    def _first(error: BaseException | None, reason: str, server: str, retry: str,
               delay: float) -> None:
        if isinstance(error, MqttNotAuthorised):
            log.error("broker %s refused the gateway: %s; retrying %sin %.1fs",
                      server, reason, retry, delay)
        else:
            log.warning("broker %s unavailable (%s); retrying %sin %.1fs",
                        server, reason, retry, delay)

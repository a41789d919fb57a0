"""Messages the broker hangs up on: found, and then not sent again.

An MQTT 3.1.1 broker has no way to refuse one message: Mosquitto answers a packet over its
``max_packet_size`` by closing the connection. The message then goes back to the front of the
buffer, is sent first on the next connection, and costs that one too: without this, one message
would stop everything forever.

The lean client names the message the broker hung up on (the oldest unacknowledged one, when
the broker closed the connection within a second of our last write). When two sessions in a
row end on the same message, its topic is quarantined from that payload size up: such messages
are dropped and counted (``sensor_gateway_readings_rejected_total{reason="quarantined"}``),
never retried, and smaller ones on the topic still go (a size limit is what a broker hangs up
on). One coincidence (a broker restart while a message was in flight) is not enough: the same
message must end two sessions in a row, the second within :data:`CONFIRM_WITHIN` seconds of its
start (the message goes first when it is sent again; a broker that acknowledges it is fine),
and it must be larger than any message the broker ever acknowledged. A broker that drops every
connection for another reason (another client with our client id, an overload) therefore costs
nothing: its drops are not blamed on messages of the sizes it has taken before.
``[mqtt] max_packet_size`` avoids even the two lost connections.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["HANG_UP_WINDOW", "QUARANTINED", "Quarantine", "likeliest"]

QUARANTINED = "quarantined"
CONFIRM_WITHIN = 2.0
HANG_UP_WINDOW = 1.0  # s: a close this soon after our last write may be the broker's answer

Message = tuple[str, bytes]  # (topic, payload)


def likeliest(unacked: Iterable[Message]) -> Message | None:
    """What a broker that hung up most likely hung up on: the largest message not yet
    acknowledged (the first sent of equals). What a broker hangs up on is almost always a
    packet over its size limit; which messages it acknowledged first cannot be told, as a
    reset discards its last PUBACKs."""
    best: Message | None = None
    for message in unacked:
        if best is None or len(message[0]) + len(message[1]) > len(best[0]) + len(best[1]):
            best = message
    return best


class Quarantine:
    def __init__(self) -> None:
        self._suspect: Message | None = None
        self.held: dict[str, int] = {}  # topic -> the smallest payload size hung up on
        self.largest_acked = 0  # topic + payload bytes of the largest message acknowledged

    def session_ended(self, hung_up_on: Message | None, lasted: float) -> None:
        """A session of ``lasted`` seconds ended; ``hung_up_on`` is the message the broker
        closed it on, if any."""
        if hung_up_on is not None and (
                not self.largest_acked
                or len(hung_up_on[0]) + len(hung_up_on[1]) <= self.largest_acked):
            hung_up_on = None  # not larger than what the broker takes: not the cause
        if hung_up_on is not None and hung_up_on == self._suspect and lasted < CONFIRM_WITHIN:
            topic, payload = hung_up_on
            self.held[topic] = min(len(payload), self.held.get(topic, len(payload)))
            self._suspect = None
        else:
            self._suspect = hung_up_on

    def holds(self, topic: str, payload: bytes) -> bool:
        """Whether this message is quarantined (as large as one the broker hung up on)."""
        size = self.held.get(topic)
        return size is not None and len(payload) >= size

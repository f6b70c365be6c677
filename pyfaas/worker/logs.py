"""The queue-worker's event lines, one per event, in the OpenFaaS queue-worker's spirit.

A call that runs once makes one line, ``Invoked``, once it has answered
(a later attempt, or one whose body is printed, also a ``Received`` line as
it starts): three lines a call took a tenth of a busy worker's time.
Each line starts with ``[#N]``, the worker's sequence number of the delivery,
so the lines of one call can be picked out of an interleaved log, and names
the call by its whole id. One event is one line: a body printed with
``faas_print_body`` has its line breaks escaped (``\\n``), so it stays one
record in the log store; the process's main may hand the lines to
``pyfaas.logformat.JsonLines`` for ``PYFAAS_LOG_FORMAT=json``. Request
and response bodies are printed only with ``faas_print_body``. Lines are
written whole: the lines of one turn of the event loop go out in one write
and one flush at its end, so a busy worker makes one write per turn, not
three per call, and a supervisor copying the stream never sees a torn line.
A URL's password (a callback's ``http://user:pw@host/``, a queue's
``nats://user:pw@host``) is never written: ``http://user:***@host/``, as
the gateway shows it; a lone user name, often a token, neither.
"""

from __future__ import annotations

import asyncio
import re
from typing import TextIO

from pyfaas.logformat import one_line
from pyfaas.queue.envelope import Delivery

# scheme://userinfo@ : up to the last "@" before the path.
_USERINFO = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://)([^/?#]*)@")


def redact(url: str) -> str:
    """``url`` with its password, or a lone user name (often a token), shown as ``***``."""
    if "@" not in url:
        return url
    match = _USERINFO.match(url)
    if match is None:
        return url
    user, colon, _ = match.group(2).partition(":")
    shown = f"{user}:***" if colon else "***"
    return f"{match.group(1)}{shown}@{url[match.end() :]}"


def call_name(call_id: str) -> str:
    """How a line names a call: by its whole id. Call ids are time-ordered, so a
    prefix is the same for every call of the same minute and names none of them."""
    return call_id


# The older name, still imported by the worker's supervision lines.
short_id = call_name


class EventLog:
    """Writes the worker's event lines to a text stream."""

    def __init__(self, stream: TextIO, *, print_body: bool = False) -> None:
        self._stream = stream
        self.print_body = print_body
        self._pending: list[str] = []

    def line(self, text: str) -> None:
        self._pending.append(one_line(text) + "\n")
        if len(self._pending) > 1:
            return  # a flush is already scheduled
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no event loop: write it now
            self.flush()

    def flush(self) -> None:
        """Write the pending lines at once."""
        if self._pending:
            text, self._pending = "".join(self._pending), []
            self._stream.write(text)
            self._stream.flush()

    def started(self, concurrency: int, queue_url: str, gateway_url: str, name: str) -> None:
        self.line(
            f"Starting queue-worker. Concurrency: {concurrency} Queue: {redact(queue_url)}"
            f" Gateway: {redact(gateway_url)} Name: {name}"
        )

    def received(self, seq: int, delivery: Delivery) -> None:
        """A call as it starts: said for a later attempt, or with its body printed."""
        call = delivery.call
        self.line(
            f"[#{seq}] Received call {call_name(call.call_id)} for {call.function_ref}"
            f" ({len(call.body)} bytes, attempt {delivery.attempt})"
        )
        if self.print_body:
            self.line(f"[#{seq}] Request body: {call.body.decode(errors='replace')}")

    def redelivered(self, seq: int, delivery: Delivery) -> None:
        self.line(
            f"[#{seq}] Call {delivery.call.call_id} is a redelivery (attempt {delivery.attempt}):"
            " a previous attempt did not settle"
        )

    def invoked(
        self,
        seq: int,
        ref: str,
        status: int,
        seconds: float,
        body: bytes,
        delivery: Delivery | None = None,
    ) -> None:
        """The one line of a call at info: what it answered, and which call it was."""
        of = ""
        if delivery is not None:
            call = delivery.call
            of = (
                f", call {call_name(call.call_id)}"
                f" ({len(call.body)} bytes, attempt {delivery.attempt})"
            )
        self.line(f"[#{seq}] Invoked {ref} [{status}] in {seconds:.3f}s ({len(body)} bytes){of}")
        if self.print_body:
            self.line(f"[#{seq}] {ref} returned: {body.decode(errors='replace')}")

    def invoke_error(self, seq: int, ref: str, error: str) -> None:
        self.line(f"[#{seq}] Error invoking {ref}: {error}")

    def gateway_unreachable(self, seq: int, ref: str, error: str) -> None:
        self.line(
            f"[#{seq}] Cannot reach the gateway for {ref} ({error});"
            " holding the call and trying again until it answers"
        )

    def retrying(self, seq: int, ref: str, delay: float, attempt: int, attempts: int) -> None:
        self.line(f"[#{seq}] Retrying {ref} in {delay:.1f}s (attempt {attempt}/{attempts})")

    def dead_lettered(self, seq: int, ref: str, call_id: str, reason: str) -> None:
        self.line(f"[#{seq}] Dead-lettered call {call_id} for {ref}: {reason}")

    def callback_posted(self, seq: int, call_id: str, url: str, status: int, attempts: int) -> None:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        self.line(
            f"[#{seq}] Callback posted to {redact(url)} [{status}]{tries}"
            f" (call {call_name(call_id)})"
        )

    def callback_retry(self, seq: int, call_id: str, url: str, error: str, delay: float) -> None:
        self.line(
            f"[#{seq}] Callback to {redact(url)} failed ({error}), retrying in {delay:.1f}s"
            f" (call {call_name(call_id)})"
        )

    def callback_failed(self, seq: int, call_id: str, url: str, error: str, attempts: int) -> None:
        self.line(
            f"[#{seq}] Callback to {redact(url)} failed for good after {attempts} attempts"
            f" ({error});"
            f" call {call_name(call_id)} is settled and will not run again"
        )

    def callback_queued_before(self, seq: int, call_id: str) -> None:
        self.line(
            f"[#{seq}] Callback of call {call_id} was queued by an earlier run"
            " (a redelivery, or a replayed dead letter); this run's is not queued again"
        )

    def callback_refused(self, seq: int, url: str, reason: str) -> None:
        self.line(f"[#{seq}] Callback URL {redact(url)!r} refused: {reason}")

    def lease_lost(self, seq: int, call_id: str) -> None:
        self.line(f"[#{seq}] Lease on call {call_id} was lost; another worker may run it again")

    def not_started(self, seq: int, ref: str, call_id: str) -> None:
        self.line(
            f"[#{seq}] Call {call_id} for {ref} is no longer this worker's (cancelled, or its"
            " lease ran out) before it started: not run"
        )

    def handed_back(self, seq: int, ref: str, call_id: str) -> None:
        self.line(f"[#{seq}] Handed call {call_id} for {ref} back to the queue (shutting down)")

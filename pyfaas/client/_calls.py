"""Asynchronous calls (pyfaas extensions): listing, status, result, cancel, waiting, queue counts.

``GET /system/calls/{id}/result`` answers with the function's own status,
so a 404 or 409 there may be the function's answer or the gateway's "no
such call" / "no result yet". A stored result always carries ``X-Call-Id``;
when such an answer is a 404 or 409 the call's record says which it is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import quote

from pyfaas.errors import Conflict, GatewayTimeout
from pyfaas.types import CallStatus

from ._base import Transport
from ._errors import error_for_status
from ._models import (
    FINAL_STATES,
    CallOutcome,
    CallResult,
    QueueSummary,
    call_status_from_wire,
    queue_summary_from_wire,
)

TRUNCATED_HEADER = "X-Result-Truncated"
NEXT_CURSOR_HEADER = "X-Next-Cursor"
_MAX_POLL = 2.0  # seconds between status polls at most, however long the wait


@dataclass(frozen=True)
class CallList:
    """A page of ``GET /system/calls``, newest first; ``next`` is the ``before`` of the next."""

    calls: tuple[CallStatus, ...]
    next: str | None = None


class CallsAPI(Transport):
    def calls(
        self,
        function: str | None = None,
        *,
        namespace: str | None = None,
        state: str | None = None,
        limit: int = 50,
        before: str | None = None,
    ) -> CallList:
        """A page of the calls' records, newest first, filtered; ``BadRequest`` for a bad filter."""
        wanted = {"function": function, "namespace": namespace, "state": state, "before": before}
        params = {k: v for k, v in wanted.items() if v is not None}
        params["limit"] = str(limit)
        response = self._call("GET", "/system/calls", ok=(200,), params=params)
        records = tuple(call_status_from_wire(raw) for raw in self._json(response))
        return CallList(records, response.headers.get(NEXT_CURSOR_HEADER))

    def call(self, call_id: str) -> CallStatus:
        """What happened to an asynchronous call."""
        response = self._call(
            "GET", f"/system/calls/{quote(call_id)}", ok=(200,), fallback=f"no such call: {call_id}"
        )
        return call_status_from_wire(self._json(response))

    def call_result(self, call_id: str) -> CallResult:
        """The function's answer to call ``call_id``: ``NotFound`` for an unknown
        call, ``Conflict`` (the gateway's message) while it has none."""
        response, body = self._send_raw("GET", f"/system/calls/{quote(call_id)}/result")
        status = response.status_code
        stored = "x-call-id" in response.headers
        if not stored and status >= 400:
            text = body.decode("utf-8", "replace")
            raise error_for_status(status, text, f"no such call: {call_id}")
        if status in (404, 409) and not self.call(call_id).has_result:
            text = body.decode("utf-8", "replace").strip()
            raise Conflict(text or f"call {call_id} has no result yet")
        size = response.headers.get(TRUNCATED_HEADER)
        # The raw pairs keep the names as the function spelt them.
        pairs = ((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw)
        headers = tuple((k, v) for k, v in pairs if k.lower() != "x-result-truncated")
        truncated = int(size) if size and size.isdigit() else None
        return CallResult(status, headers, body, truncated)

    def cancel(self, call_id: str) -> CallStatus:
        """Cancel a queued or delayed call; ``Conflict`` once it runs or has finished."""
        response = self._call(
            "DELETE",
            f"/system/calls/{quote(call_id)}",
            ok=(200, 202),
            fallback=f"no such call: {call_id}",
        )
        return call_status_from_wire(self._json(response))

    def wait_result(self, call_id: str, timeout: float = 60.0, poll: float = 0.2) -> CallOutcome:
        """Poll the call until it is final, then fetch its result if one was kept.

        The polls back off from ``poll`` to two seconds; ``GatewayTimeout``
        if the call is not final within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        pause = max(poll, 0.01)
        while True:
            status = self.call(call_id)
            if status.state in FINAL_STATES:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise GatewayTimeout(
                    f"call {call_id} is still {status.state.value} after {timeout:g}s"
                )
            time.sleep(min(pause, left))
            pause = min(pause * 1.5, _MAX_POLL)
        result = self.call_result(call_id) if status.has_result else None
        return CallOutcome(status, result)

    def queue_stats(self) -> QueueSummary:
        """``GET /system/queue``: the totals and a row per function."""
        return queue_summary_from_wire(self._json(self._call("GET", "/system/queue", ok=(200,))))

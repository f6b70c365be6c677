"""The function's answer as the queue keeps it with the call's record (``Queue.result``).

What ``GET /system/calls/{id}/result`` gives back: the function's status,
its response headers minus the hop-by-hop ones (they described the
connection to the worker, not the answer) and minus those the servers on
the way add to any answer (``Date``, ``Server``, ``Content-Length``, the
gateway's ``X-Call-Id``, ``X-Start-Time`` and ``X-Served-By``: the record
says as much, and better), and its body cut at
``result_max_bytes`` (then ``truncated``, with the whole body's ``size``),
so one call with a huge answer cannot fill the queue's storage. An
answer that never came (the gateway could not be reached) stores nothing.
"""

from __future__ import annotations

from pyfaas._http import HOP_BY_HOP
from pyfaas.queue.envelope import StoredResult
from pyfaas.worker.invoke import InvokeResult

RESULT_MAX_BYTES = 1024 * 1024
# The servers' own, on every answer; the function's X-Duration-Seconds is kept.
_ADDED_ON_THE_WAY = {"content-length", "date", "server", "x-call-id", "x-start-time", "x-served-by"}
_NOT_STORED = HOP_BY_HOP | _ADDED_ON_THE_WAY


def stored_result(result: InvokeResult, max_bytes: int) -> StoredResult | None:
    """``result`` as the queue stores it, or None if the function gave no answer."""
    if result.error is not None:
        return None  # the worker's 503 for a transport failure, not the function's answer
    body = result.body
    size = len(body)
    headers = [(k, v) for k, v in result.headers if k.lower() not in _NOT_STORED]
    if size <= max_bytes:  # the usual case: no copy of the body
        return StoredResult(result.status, headers, body, False, size)
    return StoredResult(result.status, headers, body[:max_bytes], True, size)

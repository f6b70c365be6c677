"""What the gateway stores for the queue-worker: one asynchronous call.

The call id is the idempotency key: a backend stores a given id once, and
the worker's effects (invocation, callback) are keyed by it.

A call's callback travels as a queued call of its own: once the function
has answered, the worker puts a ``QueuedCall`` with an ``answer`` under
``callback_id(call_id)`` (the receiver's URL in ``callback_url``, the
function's response headers and body in ``headers`` and ``body``), then
settles the call. Its record carries the callback's status and attempts;
``with_callback`` folds it into the call's own record.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import Any

from pyfaas.call_status import CallAttempt, CallStatus

# One set of states for the queue and the wire: the record is what the API shows.
from pyfaas.call_status import CallState as CallState
from pyfaas.queue import _json

CALLBACK_SUFFIX = ".callback"


def callback_id(call_id: str) -> str:
    """The id of the callback delivery of call ``call_id``: a second put of it stores nothing."""
    return call_id + CALLBACK_SUFFIX


@dataclass(frozen=True)
class Answer:
    """The function's answer to call ``call_id``, on its way to the callback receiver."""

    call_id: str
    status: int
    seconds: float  # from the worker's receipt of the call to the function's answer
    start_time: str  # the call's X-Start-Time, Unix nanoseconds

    def to_json(self) -> dict[str, Any]:
        return {"id": self.call_id, "s": self.status, "d": self.seconds, "st": self.start_time}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Answer:
        return cls(str(raw["id"]), int(raw["s"]), float(raw["d"]), str(raw["st"]))


@dataclass(frozen=True)
class StoredResult:
    """A function's answer to a call, kept with its record (``Queue.result``).

    ``body`` is cut at the worker's result cap (``result_max_bytes``); then
    ``truncated`` is true and ``size`` says how long the whole body was.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    truncated: bool = False
    size: int = 0  # the whole body's length in bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "s": self.status,
            "h": self.headers,
            "b": base64.b64encode(self.body).decode(),
            "tr": self.truncated,
            "n": self.size,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> StoredResult:
        return cls(
            status=int(raw["s"]),
            headers=[(str(k), str(v)) for k, v in raw["h"]],
            body=base64.b64decode(raw["b"]),
            truncated=bool(raw.get("tr", False)),
            size=int(raw.get("n", 0)),
        )


class Attempt(CallAttempt):
    """One attempt of a call, as its record keeps it (dead letters show them all):
    the wire's ``CallAttempt`` with the short keys of the queue's storage."""

    def to_json(self) -> dict[str, Any]:
        return {
            "a": self.attempt,
            "s": self.started_at,
            "f": self.finished_at,
            "c": self.status_code,
            "e": self.error,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Attempt:
        return cls(int(raw["a"]), raw.get("s"), raw.get("f"), raw.get("c"), raw.get("e"))


def fingerprint(
    function: str, namespace: str, method: str, path: str, query: str, body: bytes
) -> str:
    """What makes two submissions the same call: a reused ``X-Call-Id`` or
    ``Idempotency-Key`` whose fingerprint differs is a ``Conflict`` (409)."""
    digest = hashlib.sha256()
    for part in (function, namespace, method, path, query):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()[:32]


@dataclass
class QueuedCall:
    call_id: str
    function: str  # the function's name, validated
    namespace: str
    method: str = "POST"
    path: str = ""  # after /async-function/<name>: "" or "/a/b"
    query: str = ""  # raw query string, without "?"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    callback_url: str | None = None
    submitted_at: float = 0.0  # Unix seconds
    # Set on a callback delivery only; a call's payload, and those stored
    # before callbacks were queued, have no "ans" key and decode as None.
    answer: Answer | None = None
    # Unix seconds. Not claimed before ``not_before`` (state ``delayed``
    # until then); set aside as ``expired`` if not started by ``expire_at``.
    # 0 means neither; payloads without the keys decode as 0.
    not_before: float = 0.0
    expire_at: float = 0.0
    # ``fingerprint(...)`` of the submission, made by the gateway; "" for
    # calls stored before it was kept (they match any resubmission).
    fingerprint: str = ""
    # How many callbacks into ``/async-function/...`` led to this call
    # (``X-Pyfaas-Callback-Depth``); the gateway caps it.
    depth: int = 0

    def encode(self) -> bytes:
        fields: dict[str, Any] = {
            "id": self.call_id,
            "fn": self.function,
            "ns": self.namespace,
            "m": self.method,
            "p": self.path,
            "q": self.query,
            "h": self.headers,
            "b": base64.b64encode(self.body).decode(),
            "cb": self.callback_url,
            "t": self.submitted_at,
        }
        if self.answer is not None:
            fields["ans"] = self.answer.to_json()
        # Written only when set: a plain call's payload stays as it was.
        if self.not_before:
            fields["nb"] = self.not_before
        if self.expire_at:
            fields["xa"] = self.expire_at
        if self.fingerprint:
            fields["fp"] = self.fingerprint
        if self.depth:
            fields["dp"] = self.depth
        return _json.dumps(fields)

    @classmethod
    def decode(cls, data: bytes) -> QueuedCall:
        raw: dict[str, Any] = _json.loads(data)
        answer = raw.get("ans")
        return cls(
            call_id=raw["id"],
            function=raw["fn"],
            namespace=raw["ns"],
            method=raw["m"],
            path=raw["p"],
            query=raw["q"],
            headers=[(str(k), str(v)) for k, v in raw["h"]],
            body=base64.b64decode(raw["b"]),
            callback_url=raw["cb"],
            submitted_at=float(raw["t"]),
            answer=None if answer is None else Answer.from_json(answer),
            not_before=float(raw.get("nb", 0.0)),
            expire_at=float(raw.get("xa", 0.0)),
            fingerprint=str(raw.get("fp", "")),
            depth=int(raw.get("dp", 0)),
        )

    @property
    def function_ref(self) -> str:
        return f"{self.function}.{self.namespace}"


@dataclass
class CallRecord(CallStatus):
    """What happened to a call: the answer to "where is my call?".

    The wire's ``CallStatus`` (its fields and ``to_wire``), with what only the
    queue keeps: the attempts as stored, and the fingerprint a reused call id
    is checked against.
    """

    history: list[Attempt] = field(default_factory=list)  # every attempt, oldest first
    fingerprint: str = ""

    def to_status(self) -> CallStatus:
        """This record as the plain wire model the client reads back."""
        shared = {f.name: getattr(self, f.name) for f in dataclass_fields(CallStatus)}
        shared["history"] = tuple(
            CallAttempt(a.attempt, a.started_at, a.finished_at, a.status_code, a.error)
            for a in self.history
        )
        return CallStatus(**shared)


@dataclass
class Delivery:
    """A claimed call: the worker holds its lease until ack, retry or bury."""

    call: QueuedCall
    attempt: int  # 1 on first delivery
    token: str  # backend handle for the lease
    claimed_at: float = 0.0  # Unix seconds; 0 where the backend does not record it


@dataclass
class Outcome:
    """The worker's report when it settles a delivery."""

    status_code: int | None = None
    error: str | None = None
    callback_status: int | None = None
    callback_attempts: int = 0
    # The worker's own clock (Unix seconds): when the invocation started and
    # when the call was done, callbacks included. The backend's time of the
    # settle is used when absent, but a settle may commit after the next call began.
    started_at: float | None = None
    finished_at: float | None = None
    # The function's answer, stored with the record (``Queue.result``); None
    # when it gave none (the gateway could not be reached).
    result: StoredResult | None = None
    # Why a bury buries: "retries exhausted", "not retryable: 500", ...
    reason: str | None = None


def with_callback(record: CallRecord, callback: CallRecord | None) -> CallRecord:
    """A call's record with its callback delivery's outcome (``callback_id``) folded in.

    While the callback is on its way the call's record says nothing of it;
    a callback that failed for good fails the call, as when callbacks were
    posted before the call was settled.
    """
    if callback is None:
        return record
    state, error = record.state, record.error
    if callback.state is CallState.FAILED and error is None:
        error = callback.error or "callback failed"
        if state is CallState.SUCCEEDED:
            state = CallState.FAILED
    return replace(
        record,
        state=state,
        error=error,
        callback_status=callback.callback_status,
        callback_attempts=callback.callback_attempts,
    )

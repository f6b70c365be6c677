"""pyfaas's own wire model of an asynchronous call: ``GET /system/calls/{id}``.

Kept apart from ``pyfaas.types`` (which re-exports it) because it needs no
pydantic: the queue converts its records into it at its boundary, and the
queue-worker and the SQLite writer would otherwise load pydantic for
nothing (about 100 ms and 15 MB each). Every core field is written, nulls
included; the steering fields only when they say something.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class CallState(StrEnum):
    """Where an asynchronous call is, as ``GET /system/calls/{id}`` says it."""

    QUEUED = "queued"  # accepted, waiting for a worker
    RUNNING = "running"  # claimed by a worker under a lease
    RETRYING = "retrying"  # failed, waiting for its next attempt
    SUCCEEDED = "succeeded"  # function answered 2xx (callback outcome recorded apart)
    FAILED = "failed"  # function answered non-2xx and no retry is left
    DEAD = "dead"  # moved to the dead letters; can be replayed
    DELAYED = "delayed"  # accepted, not to run before its notBefore
    CANCELLED = "cancelled"  # cancelled before it ran; it never runs
    EXPIRED = "expired"  # not started by its expireAt; a dead letter


@dataclass(frozen=True)
class CallAttempt:
    """One attempt of a call: when it ran and what the function answered."""

    attempt: int
    started_at: float | None
    finished_at: float | None
    status_code: int | None
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "statusCode": self.status_code,
            "error": self.error,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> CallAttempt:
        return cls(
            attempt=int(data["attempt"]),
            started_at=_opt_float(data.get("startedAt")),
            finished_at=_opt_float(data.get("finishedAt")),
            status_code=_opt_int(data.get("statusCode")),
            error=data.get("error"),
        )


# A dataclass, not a pydantic model: this is a pyfaas extension (no Go
# decoder reads it), every field is written, nulls included, and the client
# reads it back as leniently as it always has. Not frozen: the queue's
# ``CallRecord`` is this class with what only the queue keeps, and a backend
# updates a record it has just read in place.
@dataclass
class CallStatus:
    """What happened to an asynchronous call: ``GET /system/calls/{id}``.

    The one definition of a call's status fields: the queue's ``CallRecord``
    extends it, the gateway writes a record with ``to_wire``, the client reads
    it back with ``from_wire``. Times are Unix seconds.
    """

    call_id: str
    function: str
    namespace: str
    state: CallState
    attempts: int = 0
    submitted_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    status_code: int | None = None
    error: str | None = None
    callback_url: str | None = None
    callback_status: int | None = None
    callback_attempts: int = 0
    not_before: float = 0.0  # as on the call; 0: none
    expire_at: float = 0.0  # 0: none
    # Why a dead letter is one: "retries exhausted", "not retryable: 500",
    # "expired", "function removed", "undecodable payload". None otherwise.
    reason: str | None = None
    history: Sequence[CallAttempt] = ()  # every attempt, oldest first
    has_result: bool = False  # the queue holds the function's answer

    def to_wire(self) -> dict[str, Any]:
        out = self._core_wire()
        # Written only when they say something, so a plain call's JSON is as
        # it always was.
        if self.not_before:
            out["notBefore"] = self.not_before
        if self.expire_at:
            out["expireAt"] = self.expire_at
        if self.reason is not None:
            out["reason"] = self.reason
        if self.history:
            out["history"] = [a.to_wire() for a in self.history]
        if self.has_result:
            out["hasResult"] = True
        return out

    def _core_wire(self) -> dict[str, Any]:
        return {
            "callId": self.call_id,
            "function": self.function,
            "namespace": self.namespace,
            "state": self.state.value,
            "attempts": self.attempts,
            "submittedAt": self.submitted_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "statusCode": self.status_code,
            "error": self.error,
            "callbackUrl": self.callback_url,
            "callbackStatus": self.callback_status,
            "callbackAttempts": self.callback_attempts,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> CallStatus:
        """The inverse of ``to_wire``; ``KeyError``, ``TypeError`` or ``ValueError`` if malformed.

        Lenient as the client always was: numbers may come as strings, an
        absent count is 0; only the three names and a known state are required.
        """
        return cls(
            call_id=str(data["callId"]),
            function=str(data["function"]),
            namespace=str(data["namespace"]),
            state=CallState(data["state"]),
            attempts=int(data.get("attempts") or 0),
            submitted_at=float(data.get("submittedAt") or 0.0),
            started_at=_opt_float(data.get("startedAt")),
            finished_at=_opt_float(data.get("finishedAt")),
            status_code=_opt_int(data.get("statusCode")),
            error=data.get("error"),
            callback_url=data.get("callbackUrl"),
            callback_status=_opt_int(data.get("callbackStatus")),
            callback_attempts=int(data.get("callbackAttempts") or 0),
            not_before=float(data.get("notBefore") or 0.0),
            expire_at=float(data.get("expireAt") or 0.0),
            reason=data.get("reason"),
            history=tuple(CallAttempt.from_wire(a) for a in data.get("history") or ()),
            has_result=bool(data.get("hasResult", False)),
        )


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)

"""Dead letters (pyfaas extensions): list, show, replay and purge, one or by filter.

A filter is a function (``name`` or ``name.namespace``), a reason and a
time (``since``: Unix seconds, a ``datetime`` or an RFC 3339 string). A
replay or purge by filter needs at least one of them, or ``everything``:
the client refuses an empty filter itself, so no typo empties the letters.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from pyfaas.errors import BadRequest, PyfaasError
from pyfaas.types import CallStatus, format_time

from ._base import Transport
from ._models import DeadLetter, call_status_from_wire, dead_letter_from_wire

Since = float | datetime | str


class DeadLettersAPI(Transport):
    def dead_letters(
        self,
        limit: int = 100,
        *,
        function: str | None = None,
        reason: str | None = None,
        since: Since | None = None,
    ) -> list[CallStatus]:
        """Dead letters, newest first, at most ``limit``, optionally filtered."""
        params = {"limit": str(limit), **filter_params(function, reason, since)}
        response = self._call("GET", "/system/dead-letters", params=params, ok=(200,))
        data = self._json(response) or []
        if not isinstance(data, list):
            raise PyfaasError("the gateway sent a dead-letter list that is not a JSON array")
        return [call_status_from_wire(item) for item in data]

    def dead_letter(self, call_id: str) -> DeadLetter:
        """One dead letter with its request (``None`` once the request is gone)."""
        response = self._call(
            "GET",
            f"/system/dead-letters/{quote(call_id)}",
            ok=(200,),
            fallback=f"no dead letter with call id {call_id}",
        )
        return dead_letter_from_wire(self._json(response))

    def replay(self, call_id: str) -> None:
        self._call(
            "POST",
            f"/system/dead-letters/{quote(call_id)}/replay",
            fallback=f"no dead letter with call id {call_id}",
        )

    def replay_where(
        self,
        *,
        function: str | None = None,
        reason: str | None = None,
        since: Since | None = None,
        everything: bool = False,
    ) -> int:
        """Queue again the dead letters that match; returns how many."""
        params = _bulk_params(function, reason, since, everything)
        response = self._call("POST", "/system/dead-letters/replay", params=params, ok=(200,))
        return _count(self._json(response), "replayed")

    def purge(
        self,
        *,
        function: str | None = None,
        reason: str | None = None,
        since: Since | None = None,
        everything: bool = False,
    ) -> int:
        """Delete the dead letters that match, for good; returns how many."""
        params = _bulk_params(function, reason, since, everything)
        response = self._call("DELETE", "/system/dead-letters", params=params, ok=(200,))
        return _count(self._json(response), "purged")


def filter_params(function: str | None, reason: str | None, since: Since | None) -> dict[str, str]:
    params: dict[str, str] = {}
    if function:
        params["function"] = function
    if reason:
        params["reason"] = reason
    if since is not None:
        params["since"] = format_since(since)
    return params


def format_since(since: Since) -> str:
    if isinstance(since, datetime):
        return format_time(since)
    if isinstance(since, float | int):
        return str(int(since)) if float(since).is_integer() else repr(float(since))
    return since


def _bulk_params(
    function: str | None, reason: str | None, since: Since | None, everything: bool
) -> dict[str, str]:
    params = filter_params(function, reason, since)
    if everything:
        if params:
            raise BadRequest("all dead letters, or a filter: not both")
        return {"all": "true"}
    if not params:
        raise BadRequest("give a function, a reason or a time, or ask for all dead letters")
    return params


def _count(data: object, key: str) -> int:
    try:
        return int(data[key])  # type: ignore[index]
    except (KeyError, TypeError, ValueError) as exc:
        raise PyfaasError(f"the gateway's answer has no count of {key} dead letters") from exc

"""Scale to zero: which functions have been idle long enough to stop.

A function labelled ``com.openfaas.scale.zero=true`` is idle once, for
``com.openfaas.scale.zero-duration`` (default: the gateway's
``PYFAAS_SCALE_ZERO_DURATION``, 15m), no call has started, none is in
flight, none of its asynchronous calls is queued or running, and a replica
has been available all along. The last condition keeps a function that a
call has just woken (its replicas still starting, the call held in the
proxy) from being stopped again before the call reaches it. The next call
brings it back: the provider starts a replica and the proxy holds the call
until one is ready.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyfaas.scale_labels import zero_duration
from pyfaas.types import FunctionStatus


@dataclass
class _Seen:
    started: int
    active_at: float


class Idler:
    def __init__(self, default_duration: float) -> None:
        self._default = default_duration
        self._seen: dict[str, _Seen] = {}

    def wants(self, function: str, status: FunctionStatus) -> bool:
        """Whether the function may be scaled to zero at all and is not there yet."""
        if status.replicas > 0 and zero_duration(status.labels, self._default) is not None:
            return True
        self._seen.pop(function, None)
        return False

    def due(
        self, function: str, status: FunctionStatus, started: int, busy: bool, now: float
    ) -> bool:
        """Whether to scale ``function`` to zero now; ``started`` counts its calls ever started."""
        duration = zero_duration(status.labels, self._default)
        if duration is None or status.replicas == 0:
            self._seen.pop(function, None)
            return False
        seen = self._seen.get(function)
        if seen is None or seen.started != started or busy or status.available_replicas == 0:
            self._seen[function] = _Seen(started, now)
            return False
        if now - seen.active_at < duration:
            return False
        del self._seen[function]
        return True

    def forget(self, keep: set[str]) -> None:
        """Drop what is known of functions no longer deployed."""
        for function in [f for f in self._seen if f not in keep]:
            del self._seen[function]

"""OpenFaaS CE's rps rule, for functions without a ``com.openfaas.scale.type`` label.

OpenFaaS CE scales through Prometheus and AlertManager: when a function
serves more than 5 successful calls a second over 10 s for 5 s, the alert
fires and the function gains ``ceil(max / 100 * factor)`` replicas (up to
``com.openfaas.scale.max``); when the alert resolves it goes back to
``com.openfaas.scale.min``. This rule does the same from the gateway's own
counters, once a tick, with a 10 s pause between steps (AlertManager's
group interval). Functions it never scaled up are left alone, so a function
scaled to zero by hand stays there. The labels are read by
``pyfaas.scale_labels``, as the providers read them.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from pyfaas.providers.base import Provider
from pyfaas.scale_labels import ScaleBounds

log = logging.getLogger("pyfaas.gateway")


@dataclass
class _Track:
    samples: deque[tuple[float, int]] = field(default_factory=deque)
    firing_since: float | None = None
    last_step: float = -math.inf
    scaled_up: bool = False


class CeRule:
    def __init__(
        self,
        provider: Provider,
        default_namespace: str,
        *,
        threshold: float = 5.0,
        window: float = 10.0,
        hold: float = 5.0,
        pause: float = 10.0,
    ) -> None:
        self._provider = provider
        self._namespace = default_namespace
        self._threshold, self._window, self._hold, self._pause = threshold, window, hold, pause
        self._tracks: dict[str, _Track] = {}

    def rate(self, function: str) -> float:
        track = self._tracks.get(function)
        if track is None or len(track.samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = track.samples[0], track.samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    async def tick(self, now: float, successes: Mapping[str, int], skip: Collection[str]) -> None:
        """One evaluation over the 200s of each function; ``skip``: functions under Pro's rule."""
        for function, count in successes.items():
            if function in skip:
                self._tracks.pop(function, None)
                continue
            track = self._tracks.setdefault(function, _Track())
            track.samples.append((now, count))
            while track.samples and track.samples[0][0] < now - self._window:
                track.samples.popleft()
            await self._evaluate(function, track, now)

    async def _evaluate(self, function: str, track: _Track, now: float) -> None:
        if self.rate(function) > self._threshold:
            if track.firing_since is None:
                track.firing_since = now
            held = now - track.firing_since >= self._hold
            if held and now - track.last_step >= self._pause:
                track.last_step = now
                await self._scale(function, track, up=True)
        elif track.firing_since is not None:
            track.firing_since = None
            if track.scaled_up:
                await self._scale(function, track, up=False)

    async def _scale(self, function: str, track: _Track, *, up: bool) -> None:
        name, _, namespace = function.rpartition(".")
        status = await self._provider.get_function(name, namespace or self._namespace)
        bounds = ScaleBounds.from_labels(status.labels)
        target = bounds.step_up(status.replicas) if up else bounds.minimum
        track.scaled_up = up
        if target != status.replicas and status.replicas > 0:
            log.info("Scaling %s from %d to %d replicas", function, status.replicas, target)
            await self._provider.scale(status.name, status.namespace, target)

"""OpenFaaS Pro's scaling decision for one function: the rule, then the scale-down window.

``ScalePolicy.desired`` (``pyfaas.scale_labels``) turns a load into a
replica count: ``ceil(total load / (target * proportion))`` within min and
max. A higher count is applied at once; a lower one only once every count
recommended during the scale-down window is as low, so a lull shorter than
the window, or a load that comes and goes, does not make replicas come and
go with it (Kubernetes' HPA stabilises the same way). The first count a
function is seen with counts as a recommendation, so a gateway that has just
started waits a window before it scales anything down.
"""

from __future__ import annotations

from collections import deque


class Stabilizer:
    """The counts recommended for one function over the last window, and what to apply."""

    def __init__(self, window: float, now: float, current: int) -> None:
        self._window = window
        self._recommended: deque[tuple[float, int]] = deque([(now, current)])

    def decide(self, now: float, recommended: int) -> int:
        """The count to run now: ``recommended`` or, going down, the window's highest."""
        kept = self._recommended
        while kept and kept[0][0] <= now - self._window:
            kept.popleft()
        kept.append((now, recommended))
        return max(count for _, count in kept)

"""of-watchdog's per-replica metrics, counted in memory every watchdog process shares.

Families, as of-watchdog writes them: ``http_requests_total`` (counter) and
``http_request_duration_seconds`` (histogram, Go's default buckets), both
labelled ``code`` and ``method`` (lower case, as Go's promhttp writes it),
and ``http_requests_in_flight`` (gauge). They are served at ``GET
/_/metrics`` on the replica's own socket, beside ``/_/health``, and not on a
port 8081 of their own as of-watchdog does: the provider hands a replica one
listening socket, and ``/_/`` is already the watchdog's, so a function keeps
its own ``/metrics``.

Classic mode runs several watchdog processes on one socket, and a scrape
reaches any one of them, so the counts live in an anonymous shared mapping
made before the fork: each process writes only its own slot (no lock, no
lost update) and a scrape adds the slots up. The call path pays a few
integer stores into that mapping, as the gateway pays dict updates.
"""

from __future__ import annotations

import mmap
from bisect import bisect_left

METRICS_PATH = "/_/metrics"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_KEYS = 48  # (method, code) pairs a slot holds; more are counted as the last one
_METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "connect", "trace")
_OTHER = len(_METHODS)
# An entry: key, count, sum (a double), then one count per finite bucket.
_ENTRY = 3 + len(BUCKETS)
_HEADER = 2  # in flight, entries used
_SLOT = _HEADER + MAX_KEYS * _ENTRY
_WORD = 8


class ReplicaMetrics:
    """The counts of ``slots`` watchdog processes; ``use(index)`` picks this one's."""

    def __init__(self, slots: int = 1) -> None:
        self.slots = max(1, slots)
        self._map = mmap.mmap(-1, self.slots * _SLOT * _WORD)
        self._ints = memoryview(self._map).cast("q")
        self._floats = memoryview(self._map).cast("d")
        self._base = 0
        self._entries: dict[tuple[str, int], int] = {}

    def use(self, index: int) -> None:
        """Count into slot ``index`` (the watchdog process's index, after the fork)."""
        self._base = index * _SLOT
        self._entries = {}

    def started(self) -> None:
        self._ints[self._base] += 1

    def finished(self, method: str, code: int, seconds: float) -> None:
        ints = self._ints
        base = self._base
        ints[base] -= 1
        entry = self._entries.get((method, code))
        if entry is None:
            entry = self._entry(method, code)
        ints[entry + 1] += 1
        self._floats[entry + 2] += seconds
        bucket = bisect_left(BUCKETS, seconds)
        if bucket < len(BUCKETS):
            ints[entry + 3 + bucket] += 1

    def _entry(self, method: str, code: int) -> int:
        ints, base = self._ints, self._base
        key = _key(method, code)
        used = ints[base + 1]
        for i in range(used):
            at = base + _HEADER + i * _ENTRY
            if ints[at] == key:
                self._entries[(method, code)] = at
                return at
        if used >= MAX_KEYS:
            return base + _HEADER + (MAX_KEYS - 1) * _ENTRY
        at = base + _HEADER + used * _ENTRY
        ints[at] = key
        ints[base + 1] = used + 1  # after the key: a reader sees whole entries only
        self._entries[(method, code)] = at
        return at

    def exposition(self) -> bytes:
        """Every slot added up, in Prometheus's text format."""
        inflight = 0
        totals: dict[int, list[float]] = {}
        ints, floats = self._ints, self._floats
        for slot in range(self.slots):
            base = slot * _SLOT
            inflight += ints[base]
            for i in range(min(ints[base + 1], MAX_KEYS)):
                at = base + _HEADER + i * _ENTRY
                row = totals.setdefault(ints[at], [0.0] * (2 + len(BUCKETS)))
                row[0] += ints[at + 1]
                row[1] += floats[at + 2]
                for b in range(len(BUCKETS)):
                    row[2 + b] += ints[at + 3 + b]
        return _render(inflight, totals)

    def close(self) -> None:
        self._ints.release()
        self._floats.release()
        self._map.close()


def _key(method: str, code: int) -> int:
    lowered = method.lower()
    index = _METHODS.index(lowered) if lowered in _METHODS else _OTHER
    return index * 1000 + code


def _labels(key: int) -> str:
    index, code = divmod(key, 1000)
    method = _METHODS[index] if index < len(_METHODS) else "other"
    return f'code="{code}",method="{method}"'


def _render(inflight: int, totals: dict[int, list[float]]) -> bytes:
    keys = sorted(totals)
    lines = [
        "# HELP http_request_duration_seconds Seconds spent serving HTTP requests.",
        "# TYPE http_request_duration_seconds histogram",
    ]
    bucket = "http_request_duration_seconds_bucket"
    for key in keys:
        row, labels = totals[key], _labels(key)
        cumulative = 0.0
        for bound, count in zip(BUCKETS, row[2:], strict=True):
            cumulative += count
            lines.append(f'{bucket}{{{labels},le="{bound}"}} {cumulative}')
        lines.append(f'{bucket}{{{labels},le="+Inf"}} {row[0]}')
        lines.append(f"http_request_duration_seconds_sum{{{labels}}} {row[1]!r}")
        lines.append(f"http_request_duration_seconds_count{{{labels}}} {row[0]}")
    lines += [
        "# HELP http_requests_in_flight The number of HTTP requests in flight",
        "# TYPE http_requests_in_flight gauge",
        f"http_requests_in_flight {float(inflight)}",
        "# HELP http_requests_total The total number of HTTP requests.",
        "# TYPE http_requests_total counter",
    ]
    lines += [f"http_requests_total{{{_labels(key)}}} {totals[key][0]}" for key in keys]
    return ("\n".join(lines) + "\n").encode()

"""The watchdog's of-watchdog families: counts per slot, added up, in a format Prometheus reads."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pyfaas.watchdog.metrics import MAX_KEYS, ReplicaMetrics

Rows = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _families(metrics: ReplicaMetrics) -> dict[str, Rows]:
    found: dict[str, Rows] = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        rows = found.setdefault(f"{family.name}:{family.type}", {})
        for sample in family.samples:
            rows[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def _with(labels: tuple[tuple[str, str], ...], le: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((*labels, ("le", le))))


def test_slots_add_up_and_buckets_are_cumulative() -> None:
    metrics = ReplicaMetrics(2)
    metrics.use(0)
    metrics.started()
    metrics.finished("POST", 200, 0.003)
    metrics.started()
    metrics.finished("POST", 500, 0.2)
    metrics.use(1)
    metrics.started()
    metrics.finished("post", 200, 3.0)
    metrics.started()  # still running
    families = _families(metrics)
    ok = (("code", "200"), ("method", "post"))
    total = families["http_requests:counter"]
    assert total[("http_requests_total", ok)] == 2.0
    assert total[("http_requests_total", (("code", "500"), ("method", "post")))] == 1.0
    hist = families["http_request_duration_seconds:histogram"]
    assert hist[("http_request_duration_seconds_bucket", _with(ok, "0.005"))] == 1.0
    assert hist[("http_request_duration_seconds_bucket", _with(ok, "2.5"))] == 1.0
    assert hist[("http_request_duration_seconds_bucket", _with(ok, "5.0"))] == 2.0
    assert hist[("http_request_duration_seconds_bucket", _with(ok, "+Inf"))] == 2.0
    assert hist[("http_request_duration_seconds_sum", ok)] == 3.003
    assert families["http_requests_in_flight:gauge"][("http_requests_in_flight", ())] == 1.0
    metrics.close()


def test_more_pairs_than_a_slot_holds_are_still_counted() -> None:
    metrics = ReplicaMetrics(1)
    for code in range(200, 200 + MAX_KEYS + 5):
        metrics.started()
        metrics.finished("GET", code, 0.01)
    total = _families(metrics)["http_requests:counter"]
    assert sum(total.values()) == MAX_KEYS + 5
    assert len(total) == MAX_KEYS
    metrics.close()


def test_an_idle_replica_has_the_families_with_no_rows() -> None:
    metrics = ReplicaMetrics(1)
    families = _families(metrics)
    assert families["http_requests_in_flight:gauge"] == {("http_requests_in_flight", ()): 0.0}
    assert families["http_requests:counter"] == {}
    metrics.close()

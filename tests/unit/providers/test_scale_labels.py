"""The scaling labels, read once for the providers and the gateway's autoscaler."""

from __future__ import annotations

from pyfaas.scale_labels import (
    ScaleBounds,
    capped,
    desired_replicas,
    label_number,
    max_replicas,
    wake_replicas,
)

MIN = "com.openfaas.scale.min"
MAX = "com.openfaas.scale.max"


def test_only_positive_integers_count() -> None:
    assert label_number({MIN: " 4 "}, MIN) == 4
    for bad in ("", "0", "-1", "1.5", "many"):
        assert label_number({MIN: bad}, MIN) is None, bad
    assert label_number(None, MIN) is None
    assert label_number({MIN: "1001"}, MIN, 1000) is None


def test_a_scale_request_is_capped_by_the_label_then_the_ceiling() -> None:
    assert capped(9, {MAX: "3"}) == 3
    assert capped(9, {}) == 9
    assert capped(9, {}, 5) == 5
    assert capped(9, {MAX: "30"}, 5) == 5
    assert capped(0, {MAX: "3"}) == 0
    assert max_replicas({}) is None


def test_desired_and_wake_counts() -> None:
    assert desired_replicas({MIN: "4", MAX: "2"}) == 2
    assert desired_replicas({MIN: "4"}) == 4
    assert wake_replicas({}) == 1
    assert wake_replicas({MIN: "3"}) == 3


def test_autoscaler_bounds_keep_openfaas_ce_defaults() -> None:
    assert ScaleBounds.from_labels({}) == ScaleBounds(1, 5, 10)
    assert ScaleBounds.from_labels({MIN: "7", MAX: "2"}) == ScaleBounds(7, 7, 10)
    assert ScaleBounds.from_labels({"com.openfaas.scale.factor": "101"}).factor == 10

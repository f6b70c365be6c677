"""The NATS queue's leases: when one counts as lost, and that a lost one is never settled."""

from __future__ import annotations

import time
from typing import cast

import pytest
from nats.aio.msg import Msg

from pyfaas.errors import NotFound
from pyfaas.queue.backends._nats_leases import LEASE_MARGIN, Leases, still_leased
from pyfaas.queue.envelope import Delivery
from tests.factories import queued_call

MSG = cast(Msg, object())  # held, never read


def _delivery(token: str) -> Delivery:
    return Delivery(queued_call("c-1"), attempt=1, token=token)


def test_a_lease_counts_as_lost_a_margin_before_the_server_ends_it() -> None:
    assert Leases(30.0).end(100.0) == pytest.approx(100.0 + 30.0 - LEASE_MARGIN)
    assert Leases(2.0).end(100.0) == pytest.approx(100.0 + 2.0 - 0.2)  # a tenth, when shorter


def test_a_held_lease_is_taken_and_released_once() -> None:
    leases = Leases(30.0)
    ends = time.monotonic() + 30.0
    leases.held["t"] = (MSG, ends)
    assert leases.take(_delivery("t"), release=False) == (MSG, ends)
    assert leases.take(_delivery("t"), release=True) == (MSG, ends)
    with pytest.raises(NotFound, match="lease on call c-1 was lost"):
        leases.take(_delivery("t"), release=True)


def test_a_lease_past_its_end_is_lost_and_forgotten() -> None:
    leases = Leases(30.0)
    leases.held["t"] = (MSG, time.monotonic() - 0.001)
    with pytest.raises(NotFound):
        leases.take(_delivery("t"), release=False)
    assert "t" not in leases.held
    with pytest.raises(NotFound):
        still_leased(_delivery("t"), time.monotonic() - 0.001)
    still_leased(_delivery("t"), time.monotonic() + 30.0)  # still held: no error

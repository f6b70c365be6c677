"""How a NATS claim shares its limit among lanes, and how lanes are named (no server needed)."""

from __future__ import annotations

from typing import cast

from nats.aio.client import Client
from nats.js import JetStreamContext

from pyfaas.queue.backends._nats_lanes import Lanes
from pyfaas.queue.backends._nats_layout import CALLBACK_LANE, NatsNames

NAMES = NatsNames.for_namespace("t1")


def _lanes(left: dict[str, int]) -> Lanes:
    lanes = Lanes(cast(Client, None), cast(JetStreamContext, None), NAMES, 1.0)
    lanes._left = dict(left)
    return lanes


def test_a_claim_asks_every_lane_with_calls_for_one_in_turn() -> None:
    f, g = NAMES.lane("calls", "ns", "f"), NAMES.lane("calls", "ns", "g")
    lanes = _lanes({f: 100, g: 1})
    assert lanes.shares(2) == {f: 1, g: 1}
    assert lanes.shares(5) == {f: 4, g: 1}  # what one lane lacks, the others take
    assert _lanes({f: 0, g: 0}).shares(5) == {}


def test_with_more_lanes_than_the_limit_the_first_lane_moves_on() -> None:
    subjects = [NAMES.lane("calls", "ns", name) for name in ("a", "b", "c")]
    lanes = _lanes(dict.fromkeys(subjects, 10))
    firsts = [next(iter(lanes.shares(1))) for _ in range(3)]
    assert sorted(firsts) == sorted(subjects)
    lanes.again()  # a turn that handed out nothing goes again
    assert next(iter(lanes.shares(1))) == firsts[-1]


def test_lanes_are_named_by_kind_namespace_and_function() -> None:
    subject = NAMES.lane("delayed", "openfaas-fn", "figlet")
    assert subject == "pyfaas.t1.delayed.openfaas-fn.figlet"
    assert NAMES.lane_of(subject) == ("delayed", "openfaas-fn", "figlet")
    assert NAMES.consumer_for(subject) == "pyfaas-worker-t1_delayed_openfaas-fn_figlet"
    assert NAMES.lane("calls", *CALLBACK_LANE) == "pyfaas.t1.calls._.callbacks"
    # Names that are no subject tokens keep to the subject of before the lanes.
    assert NAMES.lane("calls", "ns", "a.b") == NAMES.subject
    assert NAMES.lane_of(NAMES.subject) is None
    assert NAMES.consumer_for(NAMES.subject) == NAMES.consumer

"""The per-call figures of ``bench.nats_cost``: CPU from /proc, and messages, divided by calls."""

from __future__ import annotations

import os

from bench import nats_cost


def test_a_process_stat_gives_its_parent_and_its_cpu() -> None:
    parent, seconds = nats_cost._stat(os.getpid())
    assert parent == os.getppid()
    assert seconds >= 0


def test_figures_are_per_call_in_microseconds_and_messages() -> None:
    before = {"gateway": 1.0, "worker": 2.0}
    after = {"gateway": 1.5, "worker": 2.25}
    figures = nats_cost._per_call(before, after, (4000, 6000), 2000)
    assert figures == {"gateway": 250.0, "worker": 125.0, "in": 2.0, "out": 3.0}


def test_ratios_leave_out_figures_the_other_tree_lacks() -> None:
    mine = {"rate": 3.0, "gateway": 1.0, "worker": 0.0, "server": 1.0, "in": 2.0, "out": 2.0}
    other = {"rate": 2.0, "gateway": 2.0, "worker": 0.0, "server": 1.0, "in": 2.0, "out": 4.0}
    shown = nats_cost._ratios(mine, other)
    assert shown == "rate 1.50x, gateway 0.50x, server 1.00x, in 1.00x, out 0.50x"

"""Scale-out: two gateways and two queue-workers sharing one nats-server.

Each gateway has its own ``PYFAAS_HOME`` and local provider, with the same
function deployed; worker *i* invokes through gateway *i*. Calls are
submitted alternately to the two gateways, and every call accepted by
either must run exactly once, by one of the workers, with both workers
doing part of the work. Each deployment of the function tags its runs, so
the receiver knows which worker ran what.

Two layouts: all processes on loopback, and each gateway+worker pair in its
own network namespace (a stand-in machine, both listening on port 8080)
joined to the host by a veth pair, with nats-server and the receiver on the
host side. The second needs root and working ``ip netns``; without them it
is skipped, saying why.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from tests.helpers import NatsServer, wait_for
from tests.integration import netns
from tests.integration.processes import (
    FUNCTION,
    GatewayProcess,
    Receiver,
    Submitter,
    WorkerProcess,
    function_spec,
)

pytestmark = [pytest.mark.integration, pytest.mark.nats, pytest.mark.timeout(180)]

CALLS = 200
PAIRS = 2
NAMESPACE_PORT = 8080  # each namespace has its own ports: both gateways take 8080


@dataclass
class Cluster:
    gateways: list[GatewayProcess]
    workers: list[WorkerProcess]
    receiver: Receiver
    submitter: Submitter


@dataclass(frozen=True)
class Place:
    """Where one gateway+worker pair runs and how the test reaches its gateway."""

    prefix: list[str]
    gateway_host: str  # the test's address of the gateway
    gateway_bind: str
    gateway_port: int  # 0: the gateway chooses (and says) its port


def _places(stack: ExitStack, layout: str) -> tuple[list[Place], str]:
    """The pairs' places and the host-side address for nats-server and the receiver."""
    if layout == "loopback":
        return [Place([], "127.0.0.1", "127.0.0.1", 0) for _ in range(PAIRS)], "127.0.0.1"
    reason = netns.unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    spaces = stack.enter_context(netns.namespaces(PAIRS))
    # Inside its namespace a gateway may listen on every address: nothing else is there.
    places = [Place(ns.prefix(), ns.addr, "0.0.0.0", NAMESPACE_PORT) for ns in spaces]
    return places, spaces[0].host_addr


@pytest.fixture(params=["loopback", "netns"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    with ExitStack() as stack:
        places, host = _places(stack, request.param)
        (tmp_path / "nats").mkdir()
        nats = NatsServer(tmp_path / "nats", host=host).start()
        stack.callback(nats.stop)
        receiver = Receiver(host)
        stack.callback(receiver.close)
        submitter = Submitter(receiver.url)
        stack.callback(submitter.close)
        gateways, workers = [], []
        for index, place in enumerate(places):
            home = tmp_path / f"machine{index}" / "home"
            home.parent.mkdir()
            gateway = GatewayProcess(
                home,
                nats.url,
                port=place.gateway_port,
                host=place.gateway_host,
                bind=place.gateway_bind,
                prefix=place.prefix,
                name=f"gateway{index}",
            )
            stack.callback(gateway.stop)
            gateway.start()
            # Inside the pair's machine the worker reaches its gateway on loopback.
            worker = WorkerProcess(
                home,
                f"http://127.0.0.1:{gateway.port}",
                nats.url,
                prefix=place.prefix,
                name=f"worker{index}",
            )
            stack.callback(worker.stop)
            gateways.append(gateway)
            workers.append(worker)
        for gateway, worker in zip(gateways, workers, strict=True):
            gateway.wait_healthy()
            # Worker i invokes through gateway i only, so this tag names the worker.
            gateway.deploy(function_spec(receiver, tag=worker.name))
        for gateway, worker in zip(gateways, workers, strict=True):
            wait_for(partial(gateway.function_ready, FUNCTION), timeout=60, interval=0.1)
            worker.start()
        for worker in workers:
            worker.wait_started()
        yield Cluster(gateways, workers, receiver, submitter)


def test_every_call_accepted_by_either_gateway_runs_exactly_once(cluster: Cluster) -> None:
    gateways = itertools.cycle(cluster.gateways)
    for _ in range(CALLS):
        assert cluster.submitter.submit(next(gateways).url)
    accepted = set(cluster.submitter.accepted)
    assert len(accepted) == CALLS

    receiver = cluster.receiver
    wait_for(lambda: accepted <= receiver.succeeded().keys(), timeout=90, interval=0.1)
    for gateway in cluster.gateways:
        wait_for(gateway.queue_settled, timeout=30, interval=0.1)
    runs, callbacks = receiver.runs(), receiver.succeeded()
    assert runs.keys() == accepted
    assert [cid for cid, n in runs.items() if n != 1] == [], "a call ran more than once"
    assert [cid for cid, n in callbacks.items() if n != 1] == [], "a call was called back twice"
    by_worker = receiver.runs_by_tag()
    assert sum(by_worker.values()) == CALLS
    for worker in cluster.workers:
        assert by_worker[worker.name] > 0, f"{worker.name} ran nothing"
    # One queue: either gateway answers for any call, whichever gateway took it.
    for call_id in cluster.submitter.accepted[:10]:
        for gateway in cluster.gateways:
            assert gateway.call_record(call_id)["state"] == "succeeded"
    print(f"\nscale-out: {CALLS} calls ran once each; runs by worker: {dict(by_worker)}")

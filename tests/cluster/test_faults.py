"""Faults survived: three ``pyfaas serve --cluster`` hosts over a three-node NATS cluster.

Each host runs in its own network namespace with its own address (or, where
namespaces cannot be made, on a loopback address of its own, said in the
output); the buckets and the queue's streams are kept on all three NATS
nodes. A function is deployed through host A and invoked through B and C.
With asynchronous calls (every 202 and its id kept) and synchronous calls
(never retried) running through A and C, the test SIGKILLs every process
of host B, then one NATS node (the first URL every host was given); changes
the definitions through A while B is down; brings the node and B back; and
proves:

* every accepted call reached its callback (duplicates are counted and
  printed: a call B's worker held when it died may run twice);
* no synchronous call through A or C failed;
* B rejoins, listed by the others, and runs the current definitions,
  including the ones changed while it was down.
"""

from __future__ import annotations

import pprint
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from pyfaas.cluster.joining import CHECK_TIMEOUT, JOIN_WAIT
from pyfaas.cluster.secretbox import new_key
from pyfaas.serve.supervisor import READY_TIMEOUT
from tests.cluster import forensics
from tests.cluster.faults import (
    NAMESPACE_PORT,
    AsyncLoad,
    Layout,
    NatsNode,
    Place,
    ServeHost,
    SyncLoad,
    free_port_on,
    start_nats_cluster,
    wait_jetstream,
)
from tests.helpers import wait_for
from tests.integration import netns
from tests.integration.processes import Receiver, Submitter

pytestmark = [pytest.mark.integration, pytest.mark.nats, pytest.mark.timeout(240)]

ECHO = {"service": "echo", "image": "functions/alpine:latest", "envProcess": "cat"}
PROBE = {
    "service": "probe",
    "image": "functions/alpine:latest",
    "envProcess": "printenv GENERATION",
    "envVars": {"GENERATION": "1"},
}
LATE = {"service": "late", "image": "functions/alpine:latest", "envProcess": "cat"}
SETTLE = 3.0  # seconds of load before each fault


def layout(stack: ExitStack) -> Layout:
    reason = netns.unavailable_reason()
    if reason is None:
        spaces = stack.enter_context(netns.namespaces(3))
        places = [Place(ns.prefix(), "0.0.0.0", ns.addr, NAMESPACE_PORT) for ns in spaces]
        return Layout("netns", places, [ns.host_addr for ns in spaces], spaces[0].host_addr)
    print(f"\nfaults: no network namespaces ({reason}): hosts on loopback addresses instead")
    addresses = [f"127.0.0.{i}" for i in (2, 3, 4)]
    places = [Place([], a, a, free_port_on(a)) for a in addresses]
    return Layout("loopback", places, ["127.0.0.1"] * 3, "127.0.0.1")


class Platform:
    def __init__(self, where: Layout, nodes: list[NatsNode], hosts: list[ServeHost]) -> None:
        self.layout = where
        self.nodes = nodes
        self.hosts = hosts


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with ExitStack() as stack:
        where = layout(stack)
        nodes = start_nats_cluster(tmp_path / "nats", where.nats_addresses)
        for node in nodes:
            stack.callback(node.stop)
        urls = [n.url for n in nodes]
        wait_jetstream(urls)
        key_file = tmp_path / "cluster.key"
        key_file.write_bytes(new_key())
        key_file.chmod(0o600)
        hosts = [
            ServeHost(tmp_path, name, place, urls, key_file)
            for name, place in zip("abc", where.hosts, strict=True)
        ]
        for host in hosts:
            stack.callback(host.stop)
        # One first, so the buckets are declared once; then the other two at once.
        hosts[0].start()
        hosts[0].wait_serving()
        for host in hosts[1:]:
            host.start()
        for host in hosts[1:]:
            host.wait_serving()
        print(f"\nfaults: layout {where.kind}; hosts at {[h.url for h in hosts]}; nats {urls}")
        yield Platform(where, nodes, hosts)


def retry_write(host: ServeHost, method: str, path: str, spec: Mapping[str, object]) -> float:
    """A change through ``host``, tried until the buckets take it; the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            answer = host.api(method, path, json=spec)
            if answer.status_code in (200, 202):
                return time.monotonic() - started
            last = f"{answer.status_code} {answer.text.strip()}"
        except Exception as exc:  # a read timing out while the buckets elect leaders
            last = repr(exc)
        assert time.monotonic() - started < 60, f"{method} {path} never taken: {last}"
        time.sleep(0.5)


def test_a_killed_host_and_a_killed_nats_node_lose_no_call(platform: Platform) -> None:
    began = time.monotonic()
    a, b, c = platform.hosts
    # One login for every host: the cluster's admin credentials (and signing key) are shared.
    assert b.auth() == a.auth() == c.auth()
    signing = [(h.home / "credentials" / "callback-signing-key").read_text() for h in (a, b, c)]
    assert len(set(signing)) == 1
    for spec in (ECHO, PROBE):
        assert a.api("POST", "/system/functions", json=spec).status_code == 202
    for host in platform.hosts:
        wait_for(lambda host=host: host.answers("echo", b"x", b"x"), timeout=30, interval=0.1)  # type: ignore[misc]

    receiver = Receiver(platform.layout.server_address)
    submitter = Submitter(receiver.url)
    asynchronous = AsyncLoad(submitter, [a.url, c.url], "echo")
    synchronous = SyncLoad([a.url, c.url], "echo")
    try:
        asynchronous.start()
        synchronous.start()
        loaded = time.monotonic()
        time.sleep(SETTLE)
        phases = [("before the faults", len(submitter.accepted), submitter.failed)]
        left = b.kill_tree()
        assert left == [], f"processes of host b outlived its SIGKILL: {left}"
        killed_b = time.monotonic()
        timeline = {"b killed": killed_b - loaded}
        time.sleep(SETTLE)
        phases.append(("b down", len(submitter.accepted), submitter.failed))
        platform.nodes[0].kill()  # every host's first URL
        killed_node = time.monotonic()
        timeline["node 0 killed"] = killed_node - loaded
        # Changed while B is down (and the buckets elect new leaders).
        update = {**PROBE, "envVars": {"GENERATION": "2"}}
        took_update = retry_write(a, "PUT", "/system/functions", update)
        took_deploy = retry_write(a, "POST", "/system/functions", LATE)
        wait_for(lambda: c.answers("probe", b"", b"2\n"), timeout=30, interval=0.2)
        phases.append(("node down", len(submitter.accepted), submitter.failed))
        platform.nodes[0].start()
        timeline["node 0 back"] = time.monotonic() - loaded
        b.start()
        restarted = time.monotonic()
        # As long as serve itself waits (a settling JetStream at start, then the
        # gateway's readiness): past that it stops, and the test shows its log.
        b.wait_serving(timeout=JOIN_WAIT + CHECK_TIMEOUT + READY_TIMEOUT)
        back = time.monotonic()
        timeline["b serving"] = back - loaded
        wait_for(lambda: b.answers("probe", b"", b"2\n"), timeout=30, interval=0.2)
        wait_for(lambda: b.answers("late", b"late", b"late"), timeout=30, interval=0.2)
        caught_up = time.monotonic() - back
        time.sleep(SETTLE)
        phases.append(("all back", len(submitter.accepted), submitter.failed))
    finally:
        asynchronous.stop()
        synchronous.stop()

    try:
        accepted = set(submitter.accepted)
        urls = [n.url for n in platform.nodes]
        where = Whereabouts([a, b, c], urls, asynchronous, synchronous, timeline)
        _all_called_back(accepted, receiver, where)
        callbacks = receiver.succeeded()
        dups = {cid: n for cid, n in callbacks.items() if n > 1 and cid in accepted}
    finally:
        receiver.close()
        submitter.close()

    listed = sorted(h["name"] for h in b.api("GET", "/system/hosts").json())
    status = b.api("GET", "/system/function/probe").json()
    print(
        f"\nfaults ({platform.layout.kind}): {len(accepted)} async calls accepted,"
        f" {submitter.failed} refused, all called back; {len(dups)} ran twice or more"
        f" {sorted(dups.values())}; {synchronous.ok} sync calls through a and c,"
        f" {len(synchronous.failures)} failed; writes taken {took_update:.1f}s and"
        f" {took_deploy:.1f}s after the node's loss (node killed {killed_node - killed_b:.1f}s"
        f" after b); b served {back - restarted:.1f}s after its restart and ran the changes"
        f" {caught_up:.1f}s after;"
        f" {time.monotonic() - began:.0f}s in all"
    )
    steps = zip([("", 0, 0), *phases], phases, strict=False)
    print("async accepted/refused by phase:", [(p, n - m, f - g) for (_, m, g), (p, n, f) in steps])
    assert synchronous.failures == [], synchronous.failures[:10]
    assert synchronous.ok > 0
    assert len(accepted) > 0
    assert listed == ["a", "b", "c"]
    assert status["envVars"]["GENERATION"] == "2"


@dataclass
class Whereabouts:
    """What the report of a missing call needs: the hosts, NATS, who took each call and when."""

    hosts: list[ServeHost]
    nats: list[str]
    load: AsyncLoad
    sync: SyncLoad
    timeline: dict[str, float]

    def report(self, missing: set[str]) -> str:
        picked = sorted(missing)[:5]
        found = forensics.locate(self.nats, picked)
        calls = {}
        for call_id in picked:
            views = forensics.host_views(self.hosts, call_id)
            calls[call_id] = {
                "verdict": forensics.verdict(found.get(call_id), views),
                "sent": self.load.sent.get(call_id),
                "hosts": views,
                "nats": found.get(call_id),
                "logs": forensics.log_lines(self.hosts, call_id),
            }
        timeline = {event: round(at, 1) for event, at in self.timeline.items()}
        return pprint.pformat(
            {"faults (s into the load)": timeline, "calls": calls, "streams": found.get("streams"),
             "consumers holding calls": found.get("consumers"), "nats error": found.get("error"),
             "sync failures": self.sync.failures[:5]},
            width=110,
        )  # fmt: skip


def _all_called_back(accepted: set[str], receiver: Receiver, where: Whereabouts) -> None:
    """Wait for every accepted call's callback; on time-out, say where the missing ones are."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        missing = accepted - receiver.succeeded().keys()
        if not missing:
            return
        time.sleep(0.2)
    raise AssertionError(
        f"{len(missing)} of {len(accepted)} accepted calls never called back:\n"
        + where.report(missing)
    )

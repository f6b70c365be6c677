"""Where an accepted call that never called back is: every host's view, the logs, NATS's own.

When the fault suite's wait for callbacks runs out, a missing call is
either lost (no message in the calls stream, no record in the bucket: a
durability bug) or somewhere the platform has not finished with it (its
message waiting or held, its record current, its dead letter filed). A
host's ``GET /system/calls/{id}`` alone cannot tell these apart from a host
reading stale state, so ``locate`` asks every host, greps every host's
output for the id, and reads the streams themselves: the record's last
message in ``KV_pyfaas_calls`` (a delete marker says who removed it), every
message of the calls and dead streams that names the id, and each stream's
leader and replicas (a replica still catching up says "lag").
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext

CALLS_STREAM = "PYFAAS_CALLS"
DEAD_STREAM = "PYFAAS_DEAD"
RECORDS_STREAM = "KV_pyfaas_calls"
STREAMS = (CALLS_STREAM, DEAD_STREAM, RECORDS_STREAM, "KV_pyfaas_functions")
SCAN_LIMIT = 20000  # messages read of a stream at most


def host_views(hosts: Sequence[Any], call_id: str) -> dict[str, object]:
    """Each host's answer to ``GET /system/calls/{id}``: the record's gist, or the status."""
    views: dict[str, object] = {}
    for host in hosts:
        try:
            answer = host.api("GET", f"/system/calls/{call_id}")
        except Exception as exc:  # a host down is an answer too
            views[host.name] = repr(exc)
            continue
        if answer.status_code != 200:
            views[host.name] = answer.status_code
            continue
        record = answer.json()
        keep = ("state", "attempts", "statusCode", "reason", "callbackStatus", "error")
        views[host.name] = {k: record.get(k) for k in keep}
    return views


def log_lines(hosts: Sequence[Any], call_id: str) -> dict[str, list[str]]:
    """The lines of each host's output that name the call."""
    return {
        host.name: [line[:240] for line in host.output().splitlines() if call_id in line]
        for host in hosts
    }


def locate(urls: list[str], call_ids: list[str]) -> dict[str, Any]:
    """What the NATS cluster holds of each call, and the streams' leaders and replicas."""
    try:
        return asyncio.run(_locate(urls, call_ids))
    except Exception as exc:  # the report must not hide the failure it explains
        return {"error": repr(exc)}


async def _locate(urls: list[str], call_ids: list[str]) -> dict[str, Any]:
    nc = Client()

    async def quiet(exc: Exception) -> None:
        """A node down is part of what is being looked at."""

    await nc.connect(servers=urls, connect_timeout=2, max_reconnect_attempts=2, error_cb=quiet)
    try:
        js = nc.jetstream(timeout=5)
        found: dict[str, Any] = {"streams": await _streams(js)}
        messages = await _scan(js, CALLS_STREAM, call_ids)
        letters = await _scan(js, DEAD_STREAM, call_ids)
        for call_id in call_ids:
            found[call_id] = {
                "record": await _record(js, call_id),
                "messages": messages.get(call_id, []),
                "dead letters": letters.get(call_id, []),
            }
        found["consumers"] = await _consumers(js)
        return found
    finally:
        with contextlib.suppress(Exception):
            await nc.close()


async def _streams(js: JetStreamContext) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in STREAMS:
        try:
            info = await js.stream_info(name)
        except (nats.errors.Error, TimeoutError) as exc:
            out[name] = repr(exc)
            continue
        cluster = info.cluster
        replicas = (
            [f"{r.name} current={r.current} lag={r.lag}" for r in (cluster.replicas or [])]
            if cluster
            else []
        )
        out[name] = {
            "messages": info.state.messages,
            "first": info.state.first_seq,
            "last": info.state.last_seq,
            "leader": cluster.leader if cluster else None,
            "replicas": replicas,
        }
    return out


async def _record(js: JetStreamContext, call_id: str) -> object:
    """The last message of the call's key: its sequence, operation and the record's gist."""
    try:
        msg = await js.get_last_msg(RECORDS_STREAM, f"$KV.pyfaas_calls.{call_id}")
    except nats.js.errors.NotFoundError:
        return "no message for the key"
    except (nats.errors.Error, TimeoutError) as exc:
        return repr(exc)
    headers = msg.headers or {}
    gist: dict[str, object] = {"seq": msg.seq, "operation": headers.get("KV-Operation")}
    if msg.data:
        text = msg.data.decode(errors="replace")
        for field in ("state", "attempts", "status_code", "reason"):
            marker = f'"{field}":'
            if marker in text:
                gist[field] = text.split(marker, 1)[1].split(",", 1)[0][:40]
    return gist


async def _scan(js: JetStreamContext, stream: str, call_ids: list[str]) -> dict[str, list[str]]:
    """Every message of ``stream`` that names one of ``call_ids``: its sequence and subject.

    Read a message at a time, each the next after the last (no consumer: the
    calls stream takes work-queue consumers only, which would claim what they read).
    """
    wanted = {call_id: call_id.encode() for call_id in call_ids}
    hits: dict[str, list[str]] = {}
    seq = 0
    try:
        for _ in range(SCAN_LIMIT):
            try:
                msg = await js.get_msg(stream, seq=seq + 1, subject=">", next=True)
            except nats.js.errors.NotFoundError:
                break
            seq = msg.seq or seq + 1
            text = (msg.data or b"") + repr(msg.headers or {}).encode()
            for call_id, needle in wanted.items():
                if needle in text:
                    hits.setdefault(call_id, []).append(f"seq {seq} {msg.subject}")
    except (nats.errors.Error, TimeoutError) as exc:
        for call_id in call_ids:
            hits.setdefault(call_id, []).append(f"read stopped at seq {seq}: {exc!r}")
    return hits


async def _consumers(js: JetStreamContext) -> list[str]:
    """The calls stream's consumers: what each holds unacked and has yet to deliver."""
    try:
        consumers = await js.consumers_info(CALLS_STREAM)
    except (nats.errors.Error, TimeoutError) as exc:
        return [repr(exc)]
    return [
        f"{c.name}: pending {c.num_pending} unacked {c.num_ack_pending}"
        f" redelivered {c.num_redelivered} leader {c.cluster.leader if c.cluster else None}"
        for c in consumers
        if c.num_pending or c.num_ack_pending
    ]


def verdict(nats: Any, views: dict[str, object]) -> str:
    """One line: lost, read stale by a host, or not yet finished (and where)."""
    if not isinstance(nats, dict):
        return f"NATS could not be read: {nats!r}"
    record, messages = nats.get("record"), nats.get("messages") or []
    if record == "no message for the key" and not messages and not nats.get("dead letters"):
        return "LOST: no record, no message, no dead letter in NATS"
    stale = [host for host, view in views.items() if view == 404]
    if isinstance(record, dict) and record.get("operation") is None and stale:
        return f"read stale: NATS holds its record, hosts {stale} answered 404"
    if messages:
        return f"not finished: its message is still in the calls stream ({messages[0]})"
    return f"settled in NATS as {record!r}"

"""Builders for what many tests make: queued calls, call records, deployments, settings.

One place decides what a "plain" call, record or deployment looks like in a
test, and which settings make a component fast enough to test; a test names
only what it is about (``queued_call(body=b"big")``). A test whose subject is
the exact shape (wire bytes written from known values, a header list made a
certain way) keeps its own literal and says so.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

from pyfaas.gateway.settings import GatewaySettings
from pyfaas.naming import DEFAULT_NAMESPACE
from pyfaas.providers.local.settings import LocalProviderSettings
from pyfaas.queue.envelope import CallRecord, CallState, QueuedCall
from pyfaas.types import FunctionDeployment
from pyfaas.worker.settings import WorkerSettings

NS = DEFAULT_NAMESPACE


def queued_call(
    call_id: str | None = None, function: str = "echo", namespace: str = NS, **fields: Any
) -> QueuedCall:
    """A call with only what is named set; a fresh id unless one is given."""
    return QueuedCall(call_id or uuid.uuid4().hex, function, namespace, **fields)


def full_call(call_id: str | None = None, function: str = "figlet", **fields: Any) -> QueuedCall:
    """A call with every field set away from its default, for round trips through a store.

    The body holds every byte value and a header a non-ASCII letter, so an
    encoder that drops or mangles either fails the round trip.
    """
    values: dict[str, Any] = {
        "method": "PUT",
        "path": "/a/b",
        "query": "x=1&y=%20",
        "headers": [("Content-Type", "text/plain"), ("X-Name", "Zoë")],
        "body": bytes(range(256)),
        "callback_url": "http://127.0.0.1:9/cb",
        "submitted_at": 1700000000.5,
    }
    values.update(fields)
    return queued_call(call_id, function, **values)


def gateway_call(function: str = "echo", **fields: Any) -> QueuedCall:
    """A call as the gateway queues it: ``X-Call-Id`` matching its id, ``X-Start-Time`` set."""
    values: dict[str, Any] = {
        "body": b"hello",
        "headers": [("X-Call-Id", "x"), ("X-Start-Time", "1700000000000000000")],
        "submitted_at": time.time(),
    }
    values.update(fields)
    call = queued_call(values.pop("call_id", None), function, values.pop("namespace", NS), **values)
    call.headers = [(k, call.call_id if k == "X-Call-Id" else v) for k, v in call.headers]
    return call


def call_record(
    call_id: str = "c1",
    function: str = "fn",
    namespace: str = "ns",
    state: CallState = CallState.SUCCEEDED,
    **fields: Any,
) -> CallRecord:
    return CallRecord(call_id, function, namespace, state, **fields)


def full_record(**fields: Any) -> CallRecord:
    """A finished call's record with every field set, a callback delivered."""
    values: dict[str, Any] = {
        "call_id": "c-1",
        "function": "figlet",
        "namespace": NS,
        "state": CallState.SUCCEEDED,
        "attempts": 2,
        "submitted_at": 1.5,
        "started_at": 2.25,
        "finished_at": 3.0,
        "status_code": 200,
        "error": None,
        "callback_url": "http://127.0.0.1:9999/",
        "callback_status": 204,
        "callback_attempts": 1,
    }
    values.update(fields)
    return CallRecord(**values)


def deployment(name: str, image: str = "img", **fields: Any) -> FunctionDeployment:
    """A deployment request as a client sends it: OpenFaaS's JSON names (``envProcess``)."""
    return FunctionDeployment.model_validate({"service": name, "image": image, **fields})


def gateway_settings(**overrides: Any) -> GatewaySettings:
    """Small body limits a test can exceed cheaply, and no autoscaler running in the background."""
    values: dict[str, Any] = {
        "max_body": 1024 * 1024,
        "max_async_body": 64 * 1024,
        "autoscale": False,
    }
    values.update(overrides)
    return GatewaySettings(**values)


def worker_settings(gateway_url: str, **overrides: Any) -> WorkerSettings:
    """A memory-queue worker with tiny retry and claim waits and a short grace period."""
    values: dict[str, Any] = {
        "queue_url": "memory://",
        "gateway_url": gateway_url,
        "initial_retry_wait": 0.01,
        "max_retry_wait": 0.05,
        "claim_wait": 0.05,
        "ack_wait": 10.0,
        "grace_period": 5.0,
        "annotation_ttl": 5.0,
        "worker_name": "test-worker",
    }
    values.update(overrides)
    return WorkerSettings(**values)


def local_settings(**overrides: Any) -> LocalProviderSettings:
    """The local provider's settings from an empty environment, with ``overrides`` applied."""
    return dataclasses.replace(LocalProviderSettings.from_env({}), **overrides)

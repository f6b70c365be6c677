"""A typed, synchronous client of the OpenFaaS gateway API; it never prints.

with GatewayClient("http://127.0.0.1:8080", auth=("admin", password)) as gw:
    gw.deploy(FunctionDeployment(service="figlet", image="...", envProcess="figlet"))
    print(gw.invoke("figlet", b"hi").check().body.decode())
    call_id = gw.invoke_async("figlet", b"later")
    print(gw.wait_result(call_id, timeout=60).result)

``verify_callback(headers, body, key)`` checks a callback's signature with
the standard library alone, for a receiver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._invoke import InvokeResult
from ._signature import check_callback, verify_callback

if TYPE_CHECKING:
    from ._client import GatewayClient
    from ._models import (
        CallOutcome,
        CallResult,
        DeadLetter,
        DeadRequest,
        FunctionQueue,
        GatewayInfo,
        QueueSummary,
    )

_MODELS = (
    "CallOutcome",
    "CallResult",
    "DeadLetter",
    "DeadRequest",
    "FunctionQueue",
    "GatewayInfo",
    "QueueSummary",
)


def __getattr__(name: str) -> Any:
    # httpx and pydantic are imported on first use: `pyfaas invoke` needs neither.
    if name == "GatewayClient":
        from ._client import GatewayClient

        return GatewayClient
    if name in _MODELS:
        from . import _models

        return getattr(_models, name)
    raise AttributeError(name)


__all__ = [
    "CallOutcome",
    "CallResult",
    "DeadLetter",
    "DeadRequest",
    "FunctionQueue",
    "GatewayClient",
    "GatewayInfo",
    "InvokeResult",
    "QueueSummary",
    "check_callback",
    "verify_callback",
]

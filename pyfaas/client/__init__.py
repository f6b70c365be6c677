"""A typed, synchronous client of the OpenFaaS gateway API; it never prints.

with GatewayClient("http://127.0.0.1:8080", auth=("admin", password)) as gw:
    gw.deploy(FunctionDeployment(service="figlet", image="...", envProcess="figlet"))
    print(gw.invoke("figlet", b"hi").check().body.decode())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._invoke import InvokeResult

if TYPE_CHECKING:
    from ._client import GatewayClient
    from ._models import GatewayInfo, QueueSummary


def __getattr__(name: str) -> Any:
    # httpx and pydantic are imported on first use: `pyfaas invoke` needs neither.
    if name == "GatewayClient":
        from ._client import GatewayClient

        return GatewayClient
    if name in ("GatewayInfo", "QueueSummary"):
        from . import _models

        return getattr(_models, name)
    raise AttributeError(name)


__all__ = ["GatewayClient", "GatewayInfo", "InvokeResult", "QueueSummary"]

"""A typed, synchronous client of the OpenFaaS gateway API; it never prints.

with GatewayClient("http://127.0.0.1:8080", auth=("admin", password)) as gw:
    gw.deploy(FunctionDeployment(service="figlet", image="...", envProcess="figlet"))
    print(gw.invoke("figlet", b"hi").check().body.decode())
"""

from __future__ import annotations

from ._client import GatewayClient
from ._models import GatewayInfo, InvokeResult, QueueSummary

__all__ = ["GatewayClient", "GatewayInfo", "InvokeResult", "QueueSummary"]

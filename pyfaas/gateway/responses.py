"""The success answers of the gateway's system API, shared by its route modules.

JSON bodies are written compactly, as Go's ``json.Marshal`` writes them, and
the state-changing routes answer 202 with an empty body (contract §1.5).
Errors are not built here: handlers raise, and ``errors`` renders them.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(data, separators=(",", ":")).encode(),
        content_type="application/json",
    )


def accepted() -> web.Response:
    return web.Response(status=202)

"""The README's callback receiver, run as written: it takes signed callbacks and refuses others.

Its code block is read from README.md; only the key's source and the port
change (a test key, port 0), and the server runs in a thread, not forever.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from pyfaas.worker.callbacks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[3] / "README.md"
KEY_LINE = 'KEY = (Path.home() / ".pyfaas/credentials/callback-signing-key").read_text().strip()'
SERVE_LINE = 'HTTPServer(("127.0.0.1", 9999), Receiver).serve_forever()'


def _receiver_code() -> str:
    section = README.read_text().split("## Steering asynchronous calls", 1)[1]
    code: str
    [code] = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    assert KEY_LINE in code, "the README's receiver reads its key otherwise: update this test"
    assert SERVE_LINE in code, "the README's receiver serves otherwise: update this test"
    return code.replace(KEY_LINE, 'KEY = "test-key"').replace(SERVE_LINE, "")


@pytest.fixture
def receiver() -> Iterator[tuple[str, dict[str, Any]]]:
    scope: dict[str, Any] = {"__name__": "readme_receiver"}
    exec(compile(_receiver_code(), "README.md", "exec"), scope)
    server = HTTPServer(("127.0.0.1", 0), scope["Receiver"])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", scope
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _post(url: str, call_id: str, body: bytes, key: bytes, stamp: int) -> int:
    headers = {
        "X-Call-Id": call_id,
        "X-Function-Status": "200",
        TIMESTAMP_HEADER: str(stamp),
        SIGNATURE_HEADER: sign(body, key, str(stamp), call_id),
    }
    return httpx.post(url, content=body, headers=headers, timeout=10).status_code


def test_the_readme_receiver_takes_signed_callbacks_once(
    receiver: tuple[str, dict[str, Any]],
) -> None:
    url, scope = receiver
    now = int(time.time())
    assert _post(url, "c1", b"art", b"test-key", now) == 204
    assert scope["seen"] == {"c1"}
    assert _post(url, "c1", b"art", b"test-key", now) == 401  # replayed
    assert _post(url, "c2", b"art", b"other-key", now) == 401  # forged
    assert _post(url, "c3", b"art", b"test-key", now - 3600) == 401  # stale
    assert scope["seen"] == {"c1"}

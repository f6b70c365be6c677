"""Call identity headers: ``X-Call-Id``, ``X-Start-Time``, ``X-Served-By``.

A caller's own ``X-Call-Id`` is kept (it is the idempotency key of an
asynchronous call); otherwise a UUID4 is generated. ``X-Start-Time`` is the
Unix time in nanoseconds, as OpenFaaS writes it.
"""

from __future__ import annotations

import time
import uuid

from pyfaas import __version__

CALL_ID = "X-Call-Id"
START_TIME = "X-Start-Time"
SERVED_BY = "X-Served-By"
SERVED_BY_VALUE = f"pyfaas/{__version__}"


def call_identity(given: str | None) -> tuple[str, str]:
    """(call id, start time) for a request whose ``X-Call-Id`` header is ``given``."""
    call_id = given or str(uuid.uuid4())
    return call_id, str(time.time_ns())

"""The durable queue of asynchronous calls, as a library (interface, envelope, backends).

``open_queue(url)`` picks a backend from a queue URL; the caller then awaits
``start()`` before use and ``close()`` at the end:

* ``memory://`` — in this process only (tests);
* ``sqlite:///abs/path/queue.db`` — embedded, one file shared by processes;
* ``nats://host:port`` — NATS JetStream, shared by any number of machines;
  ``nats://a:4222,nats://b:4222`` names several servers of one NATS cluster.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pyfaas.errors import ConfigError
from pyfaas.queue.base import DeadLetterFilter, FunctionStats, Queue, QueueStats
from pyfaas.queue.envelope import (
    Attempt,
    CallRecord,
    CallState,
    Delivery,
    Outcome,
    QueuedCall,
    StoredResult,
)


def open_queue(url: str) -> Queue:
    """The backend named by ``url``, not yet started; ``ConfigError`` if unusable."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from pyfaas.queue.backends.memory import MemoryQueue

        return MemoryQueue()
    if scheme == "sqlite":
        path = url[len("sqlite://") :]
        if not path:
            raise ConfigError(f"PYFAAS_QUEUE: {url!r} names no file (use sqlite:///abs/path.db)")
        from pyfaas.queue.backends.sqlite import SqliteQueue

        return SqliteQueue(path)
    if scheme in ("nats", "tls"):
        from pyfaas.queue.backends.nats import NatsQueue

        return NatsQueue(url)
    raise ConfigError(
        f"PYFAAS_QUEUE: {url!r} has an unknown scheme (use memory://, sqlite:///path or nats://host:port)"
    )


__all__ = [
    "Attempt",
    "CallRecord",
    "CallState",
    "DeadLetterFilter",
    "Delivery",
    "FunctionStats",
    "Outcome",
    "Queue",
    "QueueStats",
    "QueuedCall",
    "StoredResult",
    "open_queue",
]

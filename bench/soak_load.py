"""The soak's load: the receiver the recorder reports to, the paced loops, the killer.

``Receiver`` counts each run of the ``recorder`` function (its call id) and
each callback. ``Load`` holds the threads that send synchronous calls to
``cat``, asynchronous calls (with and without a callback) to ``recorder``,
and SIGKILL a gateway or queue-worker now and then, each ending by one
deadline; ``Ledger`` is what they sent and heard, which the report sets
against the receiver's counts.
"""

from __future__ import annotations

import collections
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from bench.soak_serve import KILLED, Serve

RECORDER, CAT = "recorder", "cat"
RUN_SECONDS = 0.05  # what one run of the recorder takes (the receiver's answer)
# Calls a second, per loop: well under what the queue drains at max_inflight 4,
# so that the backlog a kill leaves is worked off between kills.
SYNC_RATE, ASYNC_RATE, CALLBACK_RATE = 8.0, 4.0, 4.0


class Receiver:
    """Counts the recorder's runs (``POST /run``, body: the call id) and callbacks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: collections.Counter[str] = collections.Counter()
        self.callbacks: collections.Counter[str] = collections.Counter()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/run":
                    with receiver.lock:
                        receiver.runs[body.decode(errors="replace").strip()] += 1
                    time.sleep(RUN_SECONDS)
                else:
                    status = int(self.headers.get("X-Function-Status") or 0)
                    if 200 <= status < 300:
                        with receiver.lock:
                            receiver.callbacks[self.headers.get("X-Call-Id") or ""] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def counts(self) -> tuple[collections.Counter[str], collections.Counter[str]]:
        with self.lock:
            return collections.Counter(self.runs), collections.Counter(self.callbacks)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the load ------------------------------------------------------------------


@dataclass
class Ledger:
    """What the loops sent and what they heard; shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: list[str] = field(default_factory=list)
    with_callback: set[str] = field(default_factory=set)
    attempted: set[str] = field(default_factory=set)
    refused: list[str] = field(default_factory=list)  # 503 without X-Call-Id: not stored
    async_failed: int = 0
    sync_ok: int = 0
    sync_failed: int = 0
    kills: collections.Counter[str] = field(default_factory=collections.Counter)


class Load:
    """The paced loops and the killer, each a thread that ends by ``deadline``."""

    def __init__(self, serve: Serve, receiver: Receiver, ledger: Ledger, seconds: float) -> None:
        self.serve, self.receiver, self.ledger = serve, receiver, ledger
        self.deadline = time.monotonic() + seconds
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def loop(self, rate: float, step: Callable[[httpx.Client], None]) -> None:
        """Call ``step`` ``rate`` times a second until the deadline (bounded in count too)."""

        def run() -> None:
            pause = 1.0 / rate
            most = int((self.deadline - time.monotonic()) * rate) + 1
            with httpx.Client(base_url=self.serve.url, timeout=30) as client:
                for _ in range(most):
                    if self.stop.is_set() or time.monotonic() >= self.deadline:
                        return
                    started = time.monotonic()
                    step(client)
                    self.stop.wait(max(0.0, pause - (time.monotonic() - started)))

        self.threads.append(threading.Thread(target=run, daemon=True))

    def sync_call(self, client: httpx.Client) -> None:
        body = uuid.uuid4().hex.encode()
        try:
            answer = client.post(f"/function/{CAT}", content=body)
            ok = answer.status_code == 200 and answer.content == body
        except httpx.HTTPError:
            ok = False
        with self.ledger.lock:
            if ok:
                self.ledger.sync_ok += 1
            else:
                self.ledger.sync_failed += 1

    def async_call(self, client: httpx.Client, callback: bool) -> None:
        call_id = str(uuid.uuid4())
        headers = {"X-Call-Id": call_id}
        if callback:
            headers["X-Callback-Url"] = f"{self.receiver.base}/callback"
        ledger = self.ledger
        with ledger.lock:
            ledger.attempted.add(call_id)
        try:
            answer = client.post(f"/async-function/{RECORDER}", content=call_id, headers=headers)
        except httpx.HTTPError:
            with ledger.lock:
                ledger.async_failed += 1
            return
        with ledger.lock:
            if answer.status_code == 202:
                ledger.accepted.append(call_id)
                if callback:
                    ledger.with_callback.add(call_id)
                return
            ledger.async_failed += 1
            if answer.status_code == 503 and "X-Call-Id" not in answer.headers:
                ledger.refused.append(call_id)

    def killer(self, low: float, high: float, rng: random.Random) -> None:
        def run() -> None:
            while not self.stop.wait(rng.uniform(low, high)):
                if time.monotonic() >= self.deadline:
                    return
                kind = rng.choice(KILLED)
                if self.serve.kill(kind):
                    with self.ledger.lock:
                        self.ledger.kills[kind] += 1
                    print(f"  {time.strftime('%H:%M:%S')} killed the {kind}", flush=True)

        self.threads.append(threading.Thread(target=run, daemon=True))

    def run(self) -> None:
        for thread in self.threads:
            thread.start()
        try:
            for thread in self.threads:
                thread.join(timeout=max(1.0, self.deadline - time.monotonic() + 60))
        finally:
            self.stop.set()

"""The lanes a claim takes calls from: one durable consumer per subject, served in turn.

Every function has its own subjects (``_nats_layout``), and a claim asks
each lane that has calls for its share of ``limit`` at once (one pull
request each, sent together: one round trip however many lanes), so that a
function with a long backlog never holds up another's calls. Which lanes
have calls is learnt from the stream itself: ``stream_info`` with a subject
filter answers each subject's message count (one request, its size grows
with the number of subjects, not of calls), asked again at most every
``REFRESH`` seconds, or when no lane is thought to have any; between those,
each lane's count is what its last delivery said was left (JetStream puts
the consumer's pending count in every delivery's reply subject).

Lanes whose consumer this process has not used yet get one made (or found)
on first use: one round trip per lane and process; and again on a lane not
asked for half the time JetStream keeps an idle consumer, since it may have
removed it (``NatsNames.consumer_idle``). A claim with nothing to
hand out watches every lane's publishes (``watch``) until one comes or its
wait ends.
"""

from __future__ import annotations

import asyncio
import time

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from pyfaas.queue.backends._nats_layout import NatsNames, consumer_config
from pyfaas.queue.backends._nats_pull import Puller

# How old the lanes' counts may be before a claim asks the stream again.
REFRESH = 0.25


class Lanes:
    """The pull consumers of one queue's lanes, and what each is thought to hold."""

    def __init__(self, nc: Client, js: JetStreamContext, names: NatsNames, timeout: float) -> None:
        self._nc = nc
        self._js = js
        self._names = names
        self._timeout = timeout
        self.pullers: dict[str, Puller] = {}  # subject -> its consumer's puller
        self._used: dict[str, float] = {}  # subject -> time.monotonic() of its last fetch
        self._left: dict[str, int] = {}  # subject -> calls thought claimable there
        self._asked = -REFRESH  # time.monotonic() of the last stream_info
        self._turn = 0  # which lane goes first: moves on every claim

    async def refresh(self) -> None:
        info = await self._js.stream_info(self._names.stream, subjects_filter=">")
        self._left = dict(info.state.subjects or {})
        self._asked = time.monotonic()

    def stale(self) -> bool:
        return time.monotonic() - self._asked >= REFRESH or not any(self._left.values())

    async def watch(self, wake: asyncio.Event) -> list[Subscription]:
        """Subscribe to every lane's publishes, each setting ``wake``; the caller unsubscribes."""

        async def seen(msg: Msg) -> None:
            wake.set()

        subs = [await self._nc.subscribe(s, cb=seen) for s in self._names.subjects]
        await self._nc.flush(timeout=max(1, round(self._timeout)))
        return subs

    def stale_now(self) -> None:
        """Something was published: the next claim asks the stream again."""
        self._asked = -REFRESH

    def again(self) -> None:
        """The last claim's turn handed nothing out (all set aside or not due): it goes again."""
        self._turn -= 1

    def shares(self, limit: int) -> dict[str, int]:
        """How many calls to ask each lane for: one each in turn, up to what each holds."""
        lanes = sorted(s for s, n in self._left.items() if n > 0)
        if not lanes:
            return {}
        start = self._turn % len(lanes)
        self._turn += 1
        lanes = lanes[start:] + lanes[:start]
        asks = dict.fromkeys(lanes, 0)
        left = limit
        while left > 0:
            given = False
            for subject in lanes:
                if left > 0 and asks[subject] < self._left[subject]:
                    asks[subject] += 1
                    left -= 1
                    given = True
            if not given:
                break
        return {s: n for s, n in asks.items() if n > 0}

    async def fetch(self, asks: dict[str, int], ack_wait: float) -> list[tuple[Msg, float]]:
        """Ask every lane at once; each message with when its batch's first one arrived."""
        if len(asks) == 1:  # one lane, as with one function: no tasks to gather
            [(subject, wanted)] = asks.items()
            puller = await self._puller(subject, ack_wait)
            batches = [await puller.fetch(wanted, 0)]
        else:
            pullers = await asyncio.gather(*(self._puller(s, ack_wait) for s in asks))
            batches = await asyncio.gather(
                *(p.fetch(asks[s], 0) for s, p in zip(asks, pullers, strict=True))
            )
        found: list[tuple[Msg, float]] = []
        for subject, (msgs, since) in zip(asks, batches, strict=True):
            if len(msgs) < asks[subject]:
                self._left[subject] = 0  # emptied, for now
            elif msgs:
                self._left[subject] = msgs[-1].metadata.num_pending or 0
            found += [(msg, since) for msg in msgs]
        return found

    async def _puller(self, subject: str, ack_wait: float) -> Puller:
        puller = self.pullers.get(subject)
        now = time.monotonic()
        if puller is not None and now - self._used[subject] >= self._names.consumer_idle / 2:
            # Not asked for so long that JetStream may remove its consumer
            # soon (or did): made again if gone; a pull for a consumer that
            # is gone would never be answered.
            config = consumer_config(self._names, ack_wait, subject)
            await self._js.add_consumer(self._names.stream, config=config)
        self._used[subject] = now
        if puller is None:
            # Made with this process's lease, or brought to it: the consumer's
            # ack_wait is the lease of every claim on it.
            config = consumer_config(self._names, ack_wait, subject)
            await self._js.add_consumer(self._names.stream, config=config)
            puller = Puller(self._nc, self._names.stream, config.durable_name or "", self._timeout)
            await puller.start()
            self.pullers[subject] = puller
        return puller

    async def set_lease(self, ack_wait: float) -> None:
        """Every consumer this process uses takes ``ack_wait`` as its lease."""
        for subject in self.pullers:
            config = consumer_config(self._names, ack_wait, subject)
            await self._js.add_consumer(self._names.stream, config=config)

    def take_spare(self) -> list[Msg]:
        return [msg for puller in self.pullers.values() for msg in puller.take_spare()]

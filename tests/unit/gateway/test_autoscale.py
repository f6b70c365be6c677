"""OpenFaaS Pro's modes and scale to zero, on the memory twins with a clock the test turns.

The integration tests (tests/integration/test_autoscale.py) run the same
rules against a real gateway process and real replicas; these pin the
arithmetic and the timing rules exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiohttp import ClientSession

from pyfaas.gateway.autoscale import Autoscaler
from pyfaas.gateway.autoscale.rule import Stabilizer
from pyfaas.gateway.metrics import GatewayMetrics
from pyfaas.providers.base import FunctionUsage
from pyfaas.providers.memory import MemoryProvider
from pyfaas.queue import Outcome
from pyfaas.queue.backends.memory import MemoryQueue
from pyfaas.scale_labels import ScaleMode, ScalePolicy, zero_duration
from tests.factories import queued_call
from tests.unit.gateway.conftest import MakeClient, deploy

NS = "openfaas-fn"
TYPE = "com.openfaas.scale.type"
TARGET = "com.openfaas.scale.target"
PROPORTION = "com.openfaas.scale.target-proportion"
MIN = "com.openfaas.scale.min"
MAX = "com.openfaas.scale.max"
ZERO = "com.openfaas.scale.zero"
ZERO_DURATION = "com.openfaas.scale.zero-duration"


def test_a_policy_needs_a_known_type_and_takes_pros_defaults() -> None:
    assert ScalePolicy.from_labels({}) is None
    assert ScalePolicy.from_labels({TYPE: "custom-rule"}) is None
    policy = ScalePolicy.from_labels({TYPE: "capacity"})
    assert policy == ScalePolicy(ScaleMode.CAPACITY, 50.0, 0.9, 1, 20)
    policy = ScalePolicy.from_labels(
        {TYPE: " RPS ", TARGET: "2.5", PROPORTION: "0.5", MIN: "2", MAX: "4"}
    )
    assert policy == ScalePolicy(ScaleMode.RPS, 2.5, 0.5, 2, 4)
    # Values that do not parse fall back to the defaults; max never below min.
    policy = ScalePolicy.from_labels({TYPE: "queue", TARGET: "-1", PROPORTION: "nan", MIN: "5"})
    assert policy == ScalePolicy(ScaleMode.QUEUE, 50.0, 0.9, 5, 20)
    assert ScalePolicy.from_labels({TYPE: "cpu", MIN: "5", MAX: "3"}) == ScalePolicy(
        ScaleMode.CPU, 50.0, 0.9, 5, 5
    )


def test_pros_rule_divides_the_total_load_by_target_times_proportion() -> None:
    # Pro's example: capacity, target 5 in flight, 15 in flight, proportion 1.0: 3 replicas.
    policy = ScalePolicy(ScaleMode.CAPACITY, 5.0, 1.0, 1, 10)
    assert policy.desired(15) == 3
    assert policy.desired(15.5) == 4
    assert policy.desired(0) == 1  # never below min
    assert policy.desired(1000) == 10  # never above max
    # A proportion below 1 scales earlier: 15 / (5 * 0.9) = 3.33 -> 4.
    assert ScalePolicy(ScaleMode.CAPACITY, 5.0, 0.9, 1, 10).desired(15) == 4


def test_zero_duration_needs_the_label_and_reads_go_durations() -> None:
    assert zero_duration({}, 900) is None
    assert zero_duration({ZERO: "false"}, 900) is None
    assert zero_duration({ZERO: "maybe"}, 900) is None
    assert zero_duration({ZERO: "true"}, 900) == 900
    assert zero_duration({ZERO: "true", ZERO_DURATION: "1m30s"}, 900) == 90
    assert zero_duration({ZERO: "true", ZERO_DURATION: "soon"}, 900) == 900


def test_the_window_delays_going_down_not_going_up() -> None:
    stabilizer = Stabilizer(10.0, 0.0, 1)
    assert stabilizer.decide(1.0, 3) == 3
    assert stabilizer.decide(2.0, 1) == 3
    assert stabilizer.decide(10.5, 1) == 3  # 3 was recommended 9.5 s ago
    assert stabilizer.decide(11.5, 1) == 1
    assert stabilizer.decide(12.0, 5) == 5


class Rig:
    """A memory provider, metrics and a queue under an autoscaler whose clock the test turns."""

    def __init__(self, queue: MemoryQueue | None = None, **kwargs: float) -> None:
        self.provider = MemoryProvider()
        self.metrics = GatewayMetrics()
        self.now = 0.0
        self.scaler = Autoscaler(
            self.provider, self.metrics, NS, queue=queue, clock=lambda: self.now, **kwargs
        )

    async def seconds(self, count: int, each: Callable[[], object] | None = None) -> None:
        for _ in range(count):
            if each is not None:
                each()
            self.now += 1
            await self.scaler.tick()

    async def replicas(self, name: str) -> int:
        return (await self.provider.get_function(name, NS)).replicas


def _calls(metrics: GatewayMetrics, function: str, count: int) -> Callable[[], None]:
    def run() -> None:
        for _ in range(count):
            metrics.start(function)
            metrics.finish(function, 200, 0.001)

    return run


async def test_rps_mode_reaches_max_under_load_and_min_after_the_window() -> None:
    rig = Rig(down_window=5.0)
    labels = {TYPE: "rps", TARGET: "2", PROPORTION: "1", MIN: "1", MAX: "3"}
    await deploy(rig.provider, "busy", labels=labels)
    await rig.seconds(5, _calls(rig.metrics, "busy.openfaas-fn", 10))  # 10 rps: 5 wanted
    assert await rig.replicas("busy") == 3
    stopped = rig.now
    while await rig.replicas("busy") > 1 and rig.now < stopped + 60:
        await rig.seconds(1)
    # The rate falls over its 10 s window; the count follows a 5 s window later.
    assert await rig.replicas("busy") == 1
    assert stopped + 5 < rig.now <= stopped + 10 + 5 + 1


async def test_rps_mode_follows_a_steady_load_to_its_count() -> None:
    rig = Rig(down_window=5.0)
    await deploy(rig.provider, "steady", labels={TYPE: "rps", TARGET: "5", PROPORTION: "1"})
    await rig.seconds(15, _calls(rig.metrics, "steady.openfaas-fn", 12))  # 12 rps / 5
    assert await rig.replicas("steady") == 3


async def test_capacity_mode_counts_calls_in_flight() -> None:
    rig = Rig(down_window=3.0)
    labels = {TYPE: "capacity", TARGET: "2", PROPORTION: "1", MAX: "3"}
    await deploy(rig.provider, "slow", labels=labels)
    for _ in range(5):
        rig.metrics.start("slow.openfaas-fn")  # started, not finished: in flight
    await rig.seconds(1)
    assert await rig.replicas("slow") == 3
    for _ in range(5):
        rig.metrics.finish("slow.openfaas-fn", 200, 1.0)
    await rig.seconds(2)
    assert await rig.replicas("slow") == 3
    await rig.seconds(2)
    assert await rig.replicas("slow") == 1


async def test_queue_mode_scales_by_the_backlog_of_queued_calls() -> None:
    queue = MemoryQueue()
    await queue.start()
    try:
        rig = Rig(queue, down_window=3.0)
        labels = {TYPE: "queue", TARGET: "2", PROPORTION: "1", MAX: "4"}
        await deploy(rig.provider, "batch", labels=labels)
        await deploy(rig.provider, "other", labels=labels)
        for _ in range(5):
            await queue.put(queued_call(function="batch"))
        await rig.seconds(1)
        assert await rig.replicas("batch") == 3
        assert await rig.replicas("other") == 1
        for delivery in await queue.claim(10, 30.0, 0.01):
            await queue.ack(delivery, Outcome(status_code=200))
        await rig.seconds(5)
        assert await rig.replicas("batch") == 1
    finally:
        await queue.close()


async def test_cpu_mode_scales_by_the_providers_usage_in_millicores() -> None:
    rig = Rig(down_window=3.0)
    labels = {TYPE: "cpu", TARGET: "500", PROPORTION: "1", MAX: "4"}
    await deploy(rig.provider, "crunch", labels=labels)
    rig.provider.set_usage("crunch", NS, FunctionUsage(cpu=1.2))  # 1200m / 500m per replica
    await rig.seconds(1)
    assert await rig.replicas("crunch") == 3
    rig.provider.set_usage("crunch", NS, None)  # not measurable: the count stays
    await rig.seconds(5)
    assert await rig.replicas("crunch") == 3
    rig.provider.set_usage("crunch", NS, FunctionUsage(cpu=1.6))
    await rig.seconds(1)
    assert await rig.replicas("crunch") == 4
    rig.provider.set_usage("crunch", NS, FunctionUsage(cpu=0.1))
    await rig.seconds(2)
    assert await rig.replicas("crunch") == 4
    await rig.seconds(2)
    assert await rig.replicas("crunch") == 1


async def test_pros_rule_leaves_a_function_at_zero_there() -> None:
    rig = Rig(down_window=1.0)
    await deploy(rig.provider, "parked", labels={TYPE: "capacity", TARGET: "1"})
    await rig.provider.scale("parked", NS, 0)
    await rig.seconds(3)
    assert await rig.replicas("parked") == 0


async def test_a_function_without_a_type_keeps_the_ce_rule() -> None:
    # 10 rps under a target of 2 would be 5 replicas for Pro's rule; CE steps one at a time.
    rig = Rig(down_window=1.0)
    await deploy(rig.provider, "classic", labels={TARGET: "2", MAX: "5"})
    await rig.seconds(7, _calls(rig.metrics, "classic.openfaas-fn", 10))
    assert await rig.replicas("classic") == 2


async def test_an_idle_function_labelled_zero_is_scaled_to_zero() -> None:
    rig = Rig(zero_duration=30.0)
    await deploy(rig.provider, "sleepy", labels={ZERO: "true", ZERO_DURATION: "5s"})
    await deploy(rig.provider, "default", labels={ZERO: "true"})
    await deploy(rig.provider, "awake", labels={})
    await rig.seconds(4)
    assert await rig.replicas("sleepy") == 1
    await rig.seconds(2)
    assert await rig.replicas("sleepy") == 0
    await rig.seconds(20)
    assert await rig.replicas("default") == 1
    await rig.seconds(6)
    assert await rig.replicas("default") == 0
    assert await rig.replicas("awake") == 1


async def test_calls_keep_a_function_awake() -> None:
    rig = Rig()
    await deploy(rig.provider, "used", labels={ZERO: "true", ZERO_DURATION: "3s"})
    await rig.seconds(10, _calls(rig.metrics, "used.openfaas-fn", 1))
    assert await rig.replicas("used") == 1
    rig.metrics.start("used.openfaas-fn")  # one call that runs for a long time
    await rig.seconds(10)
    assert await rig.replicas("used") == 1
    rig.metrics.finish("used.openfaas-fn", 200, 10.0)
    await rig.seconds(4)
    assert await rig.replicas("used") == 0


async def test_queued_calls_keep_a_function_awake() -> None:
    queue = MemoryQueue()
    await queue.start()
    try:
        rig = Rig(queue)
        await deploy(rig.provider, "batch", labels={ZERO: "true", ZERO_DURATION: "2s"})
        await queue.put(queued_call(function="batch"))
        await rig.seconds(5)
        assert await rig.replicas("batch") == 1
    finally:
        await queue.close()


async def test_a_call_to_a_function_at_zero_that_never_wakes_is_a_503_with_retry_after(
    make_client: MakeClient,
) -> None:
    provider = MemoryProvider()  # no endpoints: no replica ever becomes ready
    await deploy(provider, "never")
    await provider.scale("never", NS, 0)
    client: ClientSession = await make_client(provider=provider, scale_from_zero_timeout=0.2)
    response = await client.post("/function/never", data=b"")
    text = await response.text()
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert "never" in text


@pytest.mark.parametrize(
    ("key", "value"),
    [("PYFAAS_SCALE_DOWN_WINDOW", "a while"), ("PYFAAS_SCALE_ZERO_DURATION", "0")],
)
def test_bad_autoscale_settings_name_their_key(key: str, value: str) -> None:
    from pyfaas.errors import ConfigError
    from pyfaas.gateway.settings import GatewaySettings

    with pytest.raises(ConfigError, match=key):
        GatewaySettings.from_env({key: value})


def test_autoscale_settings_defaults_and_names() -> None:
    from pyfaas.gateway.settings import GatewaySettings

    s = GatewaySettings.from_env({"upstream_timeout": "20s"})
    assert (s.scale_down_window, s.scale_zero_duration, s.scale_from_zero_timeout) == (
        300.0,
        900.0,
        20.0,
    )
    s = GatewaySettings.from_env(
        {
            "PYFAAS_SCALE_DOWN_WINDOW": "10s",
            "PYFAAS_SCALE_ZERO_DURATION": "1m",
            "PYFAAS_SCALE_FROM_ZERO_TIMEOUT": "5s",
        }
    )
    assert (s.scale_down_window, s.scale_zero_duration, s.scale_from_zero_timeout) == (
        10.0,
        60.0,
        5.0,
    )


class CeilingProvider(MemoryProvider):
    """The memory twin with a ceiling of its own, as the local provider's PYFAAS_MAX_REPLICAS."""

    def __init__(self, ceiling: int) -> None:
        super().__init__()
        self.ceiling = ceiling
        self.asked: list[int] = []

    async def scale(self, name: str, namespace: str, replicas: int) -> None:
        self.asked.append(replicas)
        await super().scale(name, namespace, min(replicas, self.ceiling))


async def test_a_count_the_provider_caps_is_asked_for_once() -> None:
    rig = Rig()
    provider = rig.provider = CeilingProvider(2)
    rig.scaler = Autoscaler(provider, rig.metrics, NS, clock=lambda: rig.now)
    await deploy(provider, "capped", labels={TYPE: "capacity", TARGET: "1", PROPORTION: "1"})
    for _ in range(4):
        rig.metrics.start("capped.openfaas-fn")
    await rig.seconds(5)
    assert await rig.replicas("capped") == 2
    assert provider.asked == [4]
    rig.metrics.start("capped.openfaas-fn")
    await rig.seconds(1)
    assert provider.asked == [4, 5]

"""``pyfaas logs`` as faas-cli's: --since, --tail (true/false, or a count), --follow, for a
function and for the platform's own gateway and queue-worker (namespace openfaas)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.test_cli import Platform, Run, ok
from tests.integration.test_cli import platform as platform  # fixtures
from tests.integration.test_cli import run as run

pytestmark = pytest.mark.integration


def append(platform: Platform, name: str, namespace: str, text: str, ago: float = 0) -> None:
    moment = datetime.now(UTC) - timedelta(seconds=ago)
    coro = platform.provider.append_log(name, namespace, text, timestamp=moment)
    asyncio.run_coroutine_threadsafe(coro, platform.loop).result(5)


def texts(output: str) -> list[str]:
    return [line.rsplit(") ", 1)[1] for line in output.splitlines()]


@pytest.mark.parametrize("component", ["gateway", "queue-worker"])
def test_the_platforms_own_logs_with_or_without_namespace(
    run: Run, platform: Platform, component: str
) -> None:
    append(platform, component, "openfaas", f"{component} is up")
    assert texts(ok(run("logs", component, "--tail=false")).output) == [f"{component} is up"]
    named = ok(run("logs", component, "-n", "openfaas", "--no-follow")).output
    assert texts(named) == [f"{component} is up"]


def test_tail_takes_a_count_and_since_a_duration(run: Run, platform: Platform) -> None:
    ok(run("deploy", "--image", "functions/alpine:latest", "--name", "logger", "--fprocess", "cat"))
    append(platform, "logger", "openfaas-fn", "an hour ago", ago=3600)
    for i in range(3):
        append(platform, "logger", "openfaas-fn", f"line {i}")
    assert texts(ok(run("logs", "logger", "--tail=2", "--no-follow")).output) == [
        "line 1",
        "line 2",
    ]
    shown = texts(ok(run("logs", "logger", "--tail", "3", "--follow=false")).output)
    assert shown == ["line 0", "line 1", "line 2"]
    # 0 and 1 are Go's false and true, as faas-cli reads them: not counts.
    assert len(texts(ok(run("logs", "logger", "--tail=0")).output)) == 4
    recent = texts(ok(run("logs", "logger", "--since", "10m", "--tail=false")).output)
    assert recent == ["line 0", "line 1", "line 2"]
    everything = texts(ok(run("logs", "logger", "--tail=false")).output)
    assert everything[0] == "an hour ago"


def test_a_bad_tail_is_a_usage_error(run: Run, platform: Platform) -> None:
    bad = run("logs", "logger", "--tail=maybe")
    assert bad.exit_code == 2
    assert "neither true/false nor a number" in bad.stderr

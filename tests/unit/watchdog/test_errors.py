"""The watchdog's one error renderer: every refusal and failure below its handler.

A ``Watchdog`` over a small runner of this module's own, driven in process:
what a runner raises, a request beyond ``max_inflight`` and a wrong method on
the health routes all come back as one ``text/plain`` line with the status
of the error, the headers it carries and ``X-OpenFaaS-Internal``.
"""

from __future__ import annotations

import asyncio

import pytest

from pyfaas.errors import GatewayTimeout, PyfaasError, RequestTimeout, Unauthorized
from pyfaas.httpd.messages import Body, Request, Response
from pyfaas.watchdog.app import Watchdog
from pyfaas.watchdog.errors import Overloaded, render
from pyfaas.watchdog.lifecycle import Lifecycle
from pyfaas.watchdog.log import GoLog
from pyfaas.watchdog.settings import WatchdogSettings


class Runner:
    """Raises ``error`` if set, else answers 200 once ``release`` is set."""

    internal = "of-watchdog"

    def __init__(self, error: PyfaasError | None = None) -> None:
        self.error = error
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    @property
    def failed(self) -> asyncio.Future[int]:
        return asyncio.get_running_loop().create_future()

    async def start(self) -> None:
        return None

    async def __call__(self, request: Request) -> Response:
        self.entered.set()
        if self.error is not None:
            raise self.error
        await self.release.wait()
        return Response(200, [("Content-Type", "text/plain")], b"done")

    async def stop(self) -> None:
        return None


def watchdog(runner: Runner, **env: str) -> Watchdog:
    settings = WatchdogSettings.from_env({"fprocess": "cat", "suppress_lock": "true", **env})
    lifecycle = Lifecycle(None, GoLog())
    lifecycle.ready()
    return Watchdog(settings, runner, lifecycle, GoLog())


def request(method: str = "POST", path: str = "/") -> Request:
    return Request(method, path, "", [], Body.from_bytes(b""))


def headers(response: Response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (GatewayTimeout("handler did not return within 1s"), 504),
        (RequestTimeout("Killed process."), 408),
        (PyfaasError("cannot start cat: No such file"), 500),
    ],
)
async def test_a_runners_error_is_one_line_from_the_watchdog(
    error: PyfaasError, status: int
) -> None:
    answer = await watchdog(Runner(error)).handle(request())
    assert answer.status == status
    assert answer.body == f"{error.message}\n".encode()
    assert headers(answer)["content-type"] == "text/plain; charset=utf-8"
    assert headers(answer)["x-openfaas-internal"] == "of-watchdog"


async def test_the_headers_an_error_carries_reach_the_answer() -> None:
    answer = await watchdog(Runner(Unauthorized("no", challenge='Basic realm="fn"'))).handle(
        request()
    )
    assert answer.status == 401
    assert headers(answer)["www-authenticate"] == 'Basic realm="fn"'


async def test_a_request_beyond_max_inflight_is_refused_by_the_middleware() -> None:
    runner = Runner()
    dog = watchdog(runner, max_inflight="1")
    first = asyncio.create_task(dog.handle(request()))
    await runner.entered.wait()
    second = await dog.handle(request())
    runner.release.set()
    assert (await first).status == 200
    assert second.status == 429
    assert second.body == b"Concurrent request limit exceeded. Max concurrent requests: 1\n"
    # The limiter names itself, not the runner's mode.
    assert headers(second)["x-openfaas-internal"] == "faas-middleware"
    assert dog.limiter.inflight == 0


@pytest.mark.parametrize("path", ["/_/health", "/_/ready", "/_/metrics"])
async def test_the_health_routes_take_get_and_head_only(path: str) -> None:
    answer = await watchdog(Runner()).handle(request("POST", path))
    assert answer.status == 405
    assert answer.body == b"Method Not Allowed\n"
    assert headers(answer)["allow"] == "GET, HEAD"


def test_render_without_a_runner_names_no_part() -> None:
    """The aiohttp server's own refusals (a 417) come before any runner."""
    answer = render(Overloaded(2))
    assert [name for name, _ in answer.headers].count("X-OpenFaaS-Internal") == 1
    assert "x-openfaas-internal" not in headers(render(PyfaasError("x")))

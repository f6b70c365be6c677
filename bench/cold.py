"""Cold starts: deploy -> first 200, and scale from zero -> first response (median of a few)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.procs import Gateway, wait_for
from bench.report import Row, millis

REPEATS = 3


def _first_200(gateway: Gateway, name: str) -> None:
    wait_for(f"{name} to answer", lambda: gateway.invoke(name) == 200, timeout=60)


def deploy_to_first_call(gateway: Gateway, spec: dict[str, Any]) -> float:
    gateway.delete(spec["service"])
    wait_for(
        "the old deployment to go",
        lambda: gateway.api("GET", f"/system/function/{spec['service']}")[0] == 404,
    )
    start = time.perf_counter()
    gateway.deploy(spec)
    _first_200(gateway, spec["service"])
    return time.perf_counter() - start


def zero_to_first_call(gateway: Gateway, name: str) -> float:
    path = f"/system/scale-function/{name}"
    gateway.api("POST", path, {"serviceName": name, "replicas": 0})
    wait_for(f"{name} to scale to zero", lambda: gateway.available(name) == 0)
    start = time.perf_counter()
    status = gateway.invoke(name)  # the gateway holds it while a replica starts
    took = time.perf_counter() - start
    if status != 200:
        raise RuntimeError(f"scale from zero of {name} answered {status}")
    return took


def cold_rows(gateway: Gateway, sandbox: str, specs: dict[str, dict[str, Any]]) -> list[Row]:
    rows = []
    for kind, spec in specs.items():
        deploys = [deploy_to_first_call(gateway, spec) for _ in range(REPEATS)]
        zeros = [zero_to_first_call(gateway, spec["service"]) for _ in range(REPEATS)]
        section = f"cold start, {kind}, sandbox {sandbox}"
        for label, runs in (("deploy → first 200", deploys), ("scale from zero → 200", zeros)):
            median = statistics.median(runs) * 1000
            rows.append(
                Row(
                    section,
                    label,
                    "runs " + ", ".join(millis(r * 1000) for r in runs),
                    median,
                    millis(median),
                    data={"runs_s": runs},
                )
            )
    return rows

"""Fuzz the gateway's API from its own OpenAPI description (schemathesis).

Requests are generated from ``pyfaas/gateway/openapi.yml`` and sent with
valid credentials to a real gateway whose functions run sandboxed. The only
property checked is the one that matters for hardening: no answer is a 5xx,
and the gateway is still alive afterwards. The run is bounded by
``max_examples`` per operation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from pyfaas import gateway
from tests.security.conftest import assert_healthy
from tests.security.platform import Platform, needs_bwrap

pytestmark = [pytest.mark.integration, needs_bwrap]

SPEC = Path(gateway.__file__).parent / "openapi.yml"
# One test an operation, each with an id of its own ("GET /healthz"): the
# plugin's own items all share the function's name, which pytest-xdist's
# scheduler, keyed by test id, folds into two.
OPERATIONS = [result.ok() for result in schemathesis.openapi.from_path(SPEC).get_all_operations()]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda operation: operation.label)
def test_no_request_makes_the_gateway_fail(operation: Any, platform: Platform) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def no_5xx(case: schemathesis.Case[Any]) -> None:
        response = case.call(base_url=platform.url, auth=platform.auth, timeout=15)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
        )

    no_5xx()


def test_the_gateway_survived_the_fuzzing(platform: Platform) -> None:
    assert platform.proc.poll() is None
    assert_healthy(platform)

"""Function references of invocation paths: split against the default namespace, 404 if invalid."""

from __future__ import annotations

import pytest

from pyfaas.errors import NotFound
from pyfaas.gateway.refs import CACHE_SIZE, FunctionRefs


def test_a_reference_names_a_function_in_the_default_or_its_own_namespace() -> None:
    refs = FunctionRefs("openfaas-fn")
    assert refs.split("figlet") == ("figlet", "openfaas-fn", "figlet.openfaas-fn")
    assert refs.split("figlet.staging") == ("figlet", "staging", "figlet.staging")
    assert refs.split("fig%6Cet") == ("figlet", "openfaas-fn", "figlet.openfaas-fn")


@pytest.mark.parametrize("raw", ["Figlet", "fig_let", "a..b", "%2E%2E", "-x"])
def test_an_invalid_reference_is_not_found_with_openfaas_wording(raw: str) -> None:
    with pytest.raises(NotFound, match="error finding function"):
        FunctionRefs("openfaas-fn").split(raw)


def test_the_cache_stops_growing_but_answers_stay_right() -> None:
    refs = FunctionRefs("openfaas-fn")
    for i in range(CACHE_SIZE + 10):
        assert refs.split(f"fn-{i}")[0] == f"fn-{i}"
    assert refs.split(f"fn-{CACHE_SIZE + 5}") == (
        f"fn-{CACHE_SIZE + 5}",
        "openfaas-fn",
        f"fn-{CACHE_SIZE + 5}.openfaas-fn",
    )

"""The upstream client as a package: what it exports, its address type, who may import it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

import pyfaas.upstream
from pyfaas.upstream import Address

EXPORTED = {
    "REPLAYABLE",
    "Address",
    "Body",
    "ConnectFailed",
    "StaleConnection",
    "UpstreamError",
    "UpstreamPool",
    "UpstreamResponse",
}


def test_the_package_exports_exactly_its_curated_names() -> None:
    assert set(pyfaas.upstream.__all__) == EXPORTED
    assert len(pyfaas.upstream.__all__) == len(EXPORTED)
    for name in EXPORTED:
        assert getattr(pyfaas.upstream, name) is not None


def test_an_address_names_its_socket_or_its_host_and_port() -> None:
    assert str(Address("gateway", 8080)) == "gateway:8080"
    assert str(Address(port=31112)) == "127.0.0.1:31112"
    assert str(Address(host="localhost", unix_path="/run/api.sock")) == "/run/api.sock"


def test_an_address_is_frozen_and_equal_ones_are_one_key() -> None:
    address = Address("127.0.0.1", 9000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        address.port = 9001  # type: ignore[misc]
    assert address == Address(port=9000)
    assert len({address, Address(port=9000), Address(port=9001)}) == 2


@pytest.mark.integration
def test_the_worker_loads_neither_the_gateway_nor_a_provider() -> None:
    # A fresh interpreter: the test process has imported everything already.
    probe = (
        "import sys, pyfaas.worker.app\n"
        "print(sorted(m for m in sys.modules"
        " if m.startswith(('pyfaas.gateway', 'pyfaas.providers'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
    assert (
        "pyfaas.upstream"
        in subprocess.run(
            [sys.executable, "-c", "import sys, pyfaas.worker.app; print(sorted(sys.modules))"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    )

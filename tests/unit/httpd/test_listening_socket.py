"""``listening_socket`` leaves nothing open when it cannot bind."""

from __future__ import annotations

import gc
import warnings

import pytest

from pyfaas.httpd.server import listening_socket


def test_a_taken_port_raises_and_leaves_no_socket_open() -> None:
    taken = listening_socket("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        with warnings.catch_warnings():
            warnings.simplefilter("error", ResourceWarning)
            with pytest.raises(OSError, match="in use"):
                listening_socket("127.0.0.1", port)
            gc.collect()  # an unclosed socket would warn here, as an error
    finally:
        taken.close()

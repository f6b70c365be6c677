"""``pyfaas serve`` binds the gateway's port itself: port 0, a taken port, a bad address."""

from __future__ import annotations

import socket

import pytest

from pyfaas.errors import ConfigError
from pyfaas.serve import _listen


def test_port_0_is_a_listening_socket_on_a_real_port() -> None:
    with _listen("127.0.0.1", 0) as sock:
        port = sock.getsockname()[1]
        assert port > 0
        # Listening already: a client connects before any gateway runs.
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass


def test_a_taken_port_is_one_line_naming_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            _listen("127.0.0.1", port).close()
    message = str(caught.value)
    assert "\n" not in message
    assert f"port {port} on 127.0.0.1 is in use" in message
    assert "--port" in message


def test_an_address_of_no_interface_is_one_line_naming_it() -> None:
    # 192.0.2.0/24 is reserved for documentation: no interface has it.
    with pytest.raises(ConfigError) as caught:
        _listen("192.0.2.1", 0).close()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("cannot listen on 192.0.2.1 port 0: ")

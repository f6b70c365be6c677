"""The header block the NATS publisher writes itself, as nats-py's ``Client.publish`` would."""

from __future__ import annotations

from pyfaas.queue.backends._nats_publish import _header_block


def test_headers_are_written_as_the_nats_header_block() -> None:
    block = _header_block({"Nats-Msg-Id": "c1.r2", "Nats-Expected-Last-Subject-Sequence": "0"})
    assert block == (
        b"NATS/1.0\r\nNats-Msg-Id: c1.r2\r\nNats-Expected-Last-Subject-Sequence: 0\r\n\r\n"
    )


def test_a_value_that_is_not_ascii_is_written_as_utf8() -> None:
    assert _header_block({"Pyfaas-Call-Id": "caf\u00e9"}) == (
        b"NATS/1.0\r\nPyfaas-Call-Id: caf\xc3\xa9\r\n\r\n"
    )


def test_a_value_with_a_line_break_is_left_to_nats_py() -> None:
    assert _header_block({"Nats-Msg-Id": "a\r\nX-Injected: 1"}) is None

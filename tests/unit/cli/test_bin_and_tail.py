"""How ``bin show`` prints a record, and what ``logs --tail`` accepts."""

from __future__ import annotations

import click
import pytest

from pyfaas.cli.bin import format_record
from pyfaas.cli.logs import TailValue


def test_a_record_prints_as_a_request() -> None:
    record = {
        "id": 3,
        "time": "2026-12-02T13:00:00.000+00:00",
        "method": "POST",
        "path": "/",
        "query": "a=1",
        "headers": {"X-Call-Id": "c-1", "X-Function-Status": "200"},
        "body": " _\n|_|\n",
    }
    assert format_record(record) == (
        "#3 2026-12-02T13:00:00.000+00:00 POST /?a=1\n"
        "X-Call-Id: c-1\n"
        "X-Function-Status: 200\n"
        "\n"
        " _\n|_|\n"
    )


def test_a_base64_body_is_decoded_and_a_cut_one_said() -> None:
    record = {"id": 1, "method": "PUT", "body": "aGk=", "bodyEncoding": "base64"}
    assert format_record(record).endswith("\n\nhi\n")
    cut = format_record({"id": 2, "body": "x", "bodyTruncated": 5000000})
    assert "(body cut to 1 MiB of 5000000 bytes)" in cut


@pytest.mark.parametrize(
    ("given", "value"),
    [("true", True), ("false", False), ("0", False), ("1", True), ("20", 20), (True, True)],
)
def test_tail_is_a_bool_or_a_count(given: str | bool, value: bool | int) -> None:
    converted = TailValue().convert(given, None, None)
    assert converted == value
    assert type(converted) is type(value)


def test_tail_refuses_anything_else() -> None:
    with pytest.raises(click.BadParameter, match="neither true/false nor a number"):
        TailValue().convert("-3", None, None)

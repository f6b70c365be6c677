"""PYFAAS_LOG_FORMAT: every component's log lines as text or JSON, one line per event."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from pyfaas.errors import ConfigError
from pyfaas.logformat import JsonLines, line_writer, log_format, rfc3339, setup_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(
    ("value", "expected"), [(None, "text"), ("", "text"), ("text", "text"), ("JSON", "json")]
)
def test_the_format_setting(value: str | None, expected: str) -> None:
    environ = {} if value is None else {"PYFAAS_LOG_FORMAT": value}
    assert log_format(environ) == expected


def test_a_bad_format_names_the_key_and_the_value() -> None:
    with pytest.raises(ConfigError, match=r"PYFAAS_LOG_FORMAT: 'yaml'"):
        log_format({"PYFAAS_LOG_FORMAT": "yaml"})


def test_rfc3339() -> None:
    assert rfc3339(0.5) == "1970-01-01T00:00:00.500000Z"
    assert rfc3339(1.9999999) == "1970-01-01T00:00:02.000000Z"


@pytest.mark.usefixtures("restore_logging")
def test_text_logging_keeps_gos_prefix_on_one_line() -> None:
    out = io.StringIO()
    assert setup_logging("gateway", {}, stream=out) == "text"
    logging.getLogger("pyfaas.gateway").info("Listening on %s\nsecond", "http://127.0.0.1:1")
    [line] = out.getvalue().splitlines()
    assert re.fullmatch(
        r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d Listening on http://127.0.0.1:1\\nsecond", line
    )


@pytest.mark.usefixtures("restore_logging")
def test_json_logging_is_one_object_a_line() -> None:
    out = io.StringIO()
    assert setup_logging("gateway", {"PYFAAS_LOG_FORMAT": "json"}, stream=out) == "json"
    log = logging.getLogger("pyfaas.gateway")
    log.warning("two\nlines")
    try:
        raise ValueError("bad")
    except ValueError:
        log.exception("failed")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["component"] == "gateway"
    assert first["level"] == "warning"
    assert first["msg"] == "two\nlines"
    assert first["logger"] == "pyfaas.gateway"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", first["time"])
    assert second["level"] == "error"
    assert "ValueError: bad" in second["error"]


def test_json_lines_converts_whole_lines_only() -> None:
    out = io.StringIO()
    lines = JsonLines(out, "queue-worker")
    lines.write("[#4] Invoked f [200]\npart")
    assert [json.loads(x)["seq"] for x in out.getvalue().splitlines()] == [4]
    lines.write("ial\n")
    last = json.loads(out.getvalue().splitlines()[-1])
    assert last["msg"] == "partial"


def test_line_writer_leaves_text_alone() -> None:
    out = io.StringIO()
    assert line_writer(out, "queue-worker", "text") is out
    assert isinstance(line_writer(out, "queue-worker", "json"), JsonLines)

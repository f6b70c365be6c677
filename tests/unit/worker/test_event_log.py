"""The queue-worker's event lines: calls named by their whole id, one line per event."""

from __future__ import annotations

import io
import json

from pyfaas.logformat import JsonLines
from pyfaas.worker.logs import EventLog

# Two time-ordered ids of the same minute: their first eight characters are alike.
FIRST = "019ade4c-1a2b-7000-8000-000000000001"
SECOND = "019ade4c-1a2b-7000-8000-000000000002"


def test_lines_name_calls_by_their_whole_id() -> None:
    out = io.StringIO()
    log = EventLog(out)
    for call_id in (FIRST, SECOND):
        log.callback_posted(1, call_id, "http://127.0.0.1:1/", 200, 1)
    log.callback_failed(2, FIRST, "http://127.0.0.1:1/", "refused", 3)
    lines = out.getvalue().splitlines()
    assert f"(call {FIRST})" in lines[0]
    assert f"(call {SECOND})" in lines[1]
    assert f"call {FIRST} is settled" in lines[2]


def test_a_printed_body_stays_one_line() -> None:
    out = io.StringIO()
    log = EventLog(out, print_body=True)
    log.invoked(3, "figlet.openfaas-fn", 200, 0.01, b" _\n| |\n")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[1] == "[#3] figlet.openfaas-fn returned:  _\\n| |\\n"


def test_json_lines_carry_the_sequence_number() -> None:
    out = io.StringIO()
    log = EventLog(JsonLines(out, "queue-worker"))  # type: ignore[arg-type]
    log.started(1, "sqlite:///q.db", "http://127.0.0.1:8080", "w1")
    log.invoke_error(7, "f.openfaas-fn", "boom")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["component"] == "queue-worker"
    assert first["msg"].startswith("Starting queue-worker.")
    assert "seq" not in first
    assert second["seq"] == 7
    assert second["msg"] == "Error invoking f.openfaas-fn: boom"

"""The bench's parsing of wrk output and its ratio and verdict maths (no load here)."""

from __future__ import annotations

import pytest

from bench import wrk
from bench.report import (
    Row,
    at_least,
    at_most,
    markdown,
    median_round,
    millis,
    percent,
    rate,
    ratio,
    spread,
)

WRK_OUTPUT = """\
Running 3s test @ http://127.0.0.1:8080/function/echo
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.20ms  31.00ms   90.12%
    Req/Sec     5.11k   300.00     5.60k    70.00%
  Latency Distribution
     50%    1.83ms
     75%    2.20ms
     90%    3.00ms
     99%  812.00us
  15330 requests in 3.00s, 2.10MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 7
Requests/sec:   5109.85
Transfer/sec:    716.00KB
"""


def test_wrk_output_is_parsed() -> None:
    result = wrk.parse(WRK_OUTPUT)
    assert result.rps == pytest.approx(5109.85)
    assert result.p50_ms == pytest.approx(1.83)
    assert result.p99_ms == pytest.approx(0.812)
    assert (result.requests, result.non_2xx, result.errors) == (15330, 7, 3)


def test_wrk_output_without_errors_counts_none() -> None:
    clean = WRK_OUTPUT.replace("  Socket errors: connect 0, read 2, write 1, timeout 0\n", "")
    clean = clean.replace("  Non-2xx or 3xx responses: 7\n", "")
    result = wrk.parse(clean)
    assert (result.non_2xx, result.errors) == (0, 0)


@pytest.mark.parametrize(
    ("text", "ms"), [("156.00us", 0.156), ("1.23ms", 1.23), ("2.00s", 2000.0), ("1.50m", 90000.0)]
)
def test_durations_convert_to_milliseconds(text: str, ms: float) -> None:
    assert wrk.parse_duration_ms(text) == pytest.approx(ms)


def test_bad_output_is_refused() -> None:
    with pytest.raises(ValueError, match="Requests/sec"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused")
    with pytest.raises(ValueError, match="not a wrk duration"):
        wrk.parse_duration_ms("fast")


def test_ratios_and_verdicts() -> None:
    assert ratio(1, 4) == 0.25
    assert ratio(5, 0) == 0.0
    floor = at_least(0.2, ">= 20 %")
    ceiling = at_most(0.5, "<= 0.5 ms")
    assert Row("s", "a", "m", 0.21, "21 %", floor).verdict == "PASS"
    assert Row("s", "a", "m", 0.19, "19 %", floor).verdict == "MISS"
    assert Row("s", "a", "m", 0.5, "0.5 ms", ceiling).verdict == "PASS"
    assert Row("s", "a", "m", 0.51, "0.51 ms", ceiling).verdict == "MISS"
    assert Row("s", "a", "m").verdict == ""


def test_formatting_and_markdown() -> None:
    assert (rate(812), rate(5109.85), rate(18200)) == ("812", "5.1k", "18k")
    assert (percent(0.314), percent(0.8964, 1)) == ("31 %", "89.6 %")
    assert (millis(0.343), millis(1.95), millis(-15.15)) == ("343 µs", "1.95 ms", "-15.15 ms")
    rows = [Row("sync", "gateway / echo", "5.1k vs 18k", 0.28, "28 %", at_least(0.2, ">= 20 %"))]
    table = markdown(rows).splitlines()
    assert table[0].startswith("| section | row |")
    assert table[2] == "| sync | gateway / echo | 5.1k vs 18k | 28 % | >= 20 % | PASS |"


def test_the_median_round_is_judged_and_every_round_shown() -> None:
    rounds = [(10.0, 12.0), (10.0, 10.5), (10.0, 20.0)]  # direct s, queued s

    def share(pair: tuple[float, float]) -> float:
        return ratio(*pair)

    assert median_round(rounds, share) == (10.0, 12.0)
    assert median_round(rounds[:2], share) == (10.0, 12.0)  # even count: the lower middle
    assert median_round(rounds[:1], share) == (10.0, 12.0)
    assert spread([share(pair) for pair in rounds]) == "83 %, 95 %, 50 %"

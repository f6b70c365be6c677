"""``python -m bench.plot``: a chart from a results file as ``bench.report`` writes it."""

from __future__ import annotations

import ast
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from bench import plot, report
from bench.report import Row, Target, at_least, at_most

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BENCH = Path(plot.__file__).resolve().parent


def _results(tmp_path: Path, rows: list[Row]) -> Path:
    path = tmp_path / "latest.json"
    report.write_json(path, rows, report.machine(), report.machine())
    return path


def _run_rows() -> list[Row]:
    """Rows shaped like a run's: judged ones of each kind, and unjudged ones."""
    return [
        Row("sync python3-http echo, c=1", "replica direct", "8.6k req/s, p50 113 µs"),
        Row(
            "sync python3-http echo, c=1",
            "added p50 (gateway - replica)",
            "272 µs vs 113 µs",
            0.159,
            "159 µs",
            at_most(0.5, "≤ 0.5 ms at c=1"),
        ),
        Row(
            "sync python3-http echo, c=10",
            "gateway / aiohttp echo",
            "14k vs 22k req/s",
            0.64,
            "64 %",
            at_least(0.20, "≥ 20 % at c=10 (OpenFaaS 16 %)"),
        ),
        Row(
            "sync classic cat, c=10",
            "gateway",
            "1.9k req/s",
            1900.0,
            "1.9k req/s",
            at_least(1500, "≥ 1.5k req/s (OpenFaaS 1.58k)"),
        ),
        Row(
            "async accept, nats, c=10",
            "202s / aiohttp echo",
            "8.8k req/s",
            0.362,
            "36.2 %",
            at_least(0.5, "≥ 0.5x (OpenFaaS, memory NATS: 0.87x)"),
        ),
        Row(
            "drain, sqlite, max_inflight=50",
            "worker calls/s",
            "60000 calls in 7.64 s",
            7853.0,
            "7.9k/s",
            at_least(1600, "≥ 1.6k/s (OpenFaaS 810/s)"),
        ),
        Row(
            "drain, sqlite, max_inflight=50",
            "60000 calls: worker vs direct",
            "worker 7.8k/s, direct 8.3k/s",
            0.951,
            "95.1 %",
            at_least(0.9, "≥ 90 % (overhead ≤ 10 %)"),
        ),
    ]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# Integration tier: matplotlib runs fc-list the first time it looks for a font.
@pytest.mark.integration
def test_a_run_is_drawn_as_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "docs" / "performance.png"
    assert plot.main([str(_results(tmp_path, _run_rows())), "-o", str(out)]) == 0
    width, height = _png_size(out.read_bytes())
    assert width > 600
    assert height > 200
    assert "6 judged rows drawn" in capsys.readouterr().out


def test_only_judged_rows_become_bars_and_the_run_s_verdict_colours_them(
    tmp_path: Path,
) -> None:
    path = _results(tmp_path, _run_rows())
    bars = plot.bars(plot.load(path), path)
    assert [bar.name for bar in bars][:2] == [
        "sync python3-http echo, c=1: added p50 (gateway - replica)",
        "sync python3-http echo, c=10: gateway / aiohttp echo",
    ]
    assert [bar.verdict for bar in bars] == ["PASS", "PASS", "PASS", "MISS", "PASS", "PASS"]
    # A bar reaches the target exactly when the run's verdict says PASS.
    assert all((bar.share >= 1) == (bar.verdict == "PASS") for bar in bars)
    assert bars[0].share == pytest.approx(0.5 / 0.159)  # "≤": bound / figure
    assert bars[3].share == pytest.approx(0.362 / 0.5)
    assert bars[3].note == "0.36x (≥ 0.5x)"
    assert bars[5].note == "95.1 % (≥ 90 %)"


def _targets_in_bench() -> list[tuple[str, float, bool]]:
    """Every ``at_least(bound, text)`` / ``at_most(...)`` written in bench's modules."""
    found = []
    for module in sorted(BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            if node.func.id in ("at_least", "at_most") and len(node.args) == 2:
                bound, text = (ast.literal_eval(arg) for arg in node.args)
                found.append((text, float(bound), node.func.id == "at_least"))
    return found


def test_every_target_the_bench_sets_is_read_back_with_its_bound() -> None:
    targets = _targets_in_bench()
    assert len(targets) >= 6  # sync (2), cat, accept, drain (2)
    for text, bound, floor in targets:
        read = plot.read_target(text)
        assert (read.bound, read.at_least) == (pytest.approx(bound), floor), text
        assert Target(bound, floor, text).met(bound * 1.01 if floor else bound * 0.99)


@pytest.mark.parametrize(
    ("text", "bound", "floor"),
    [("<= 250 µs", 0.25, False), (">= 2x", 2.0, True), ("≥ 3k req/s", 3000.0, True)],
)
def test_targets_in_other_units_and_spellings(text: str, bound: float, floor: bool) -> None:
    read = plot.read_target(text)
    assert (read.bound, read.at_least) == (pytest.approx(bound), floor)


def test_bad_input_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.png"
    not_json = tmp_path / "not.json"
    not_json.write_text("machine: fast\n")
    no_rows = tmp_path / "no-rows.json"
    no_rows.write_text('{"machine": {}}')
    unjudged = _results(tmp_path, [Row("sync", "replica direct", "8.6k req/s")])
    unreadable = tmp_path / "odd.json"
    unreadable.write_text(
        '{"rows": [{"section": "s", "label": "l", "value": 1, "target": "fast"}]}'
    )
    cases = {
        tmp_path / "missing.json": "cannot read",
        not_json: "is not JSON",
        no_rows: "holds no list of rows",
        unjudged: "has no row with a target and a value",
        unreadable: "row 1: cannot read a bound from the target 'fast'",
    }
    for path, message in cases.items():
        assert plot.main([str(path), "-o", str(out)]) == 2, path
        captured = capsys.readouterr()
        assert captured.out == ""
        lines = captured.err.splitlines()
        assert len(lines) == 1, captured.err
        assert lines[0].startswith("bench.plot: ")
        assert message in lines[0]
    assert not out.exists()


@pytest.mark.integration
def test_the_command_exits_2_on_a_missing_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.plot",
            str(tmp_path / "none.json"),
            "-o",
            str(tmp_path / "x.png"),
        ],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "cannot read" in done.stderr
    assert "No such file or directory" in done.stderr

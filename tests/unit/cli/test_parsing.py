"""Flag parsing shared by the commands: headers, query parameters, KEY=VALUE pairs."""

from __future__ import annotations

import pytest

from pyfaas.cli._common import parse_header, parse_pairs, parse_query
from pyfaas.cli.new import image_name, new_stack_text, stack_entry, update_gitignore
from pyfaas.errors import BadRequest


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("X-Token: abc", ("X-Token", "abc")),
        ("X-Token:abc", ("X-Token", "abc")),
        ("X-Token=abc", ("X-Token", "abc")),
        ("X-Sig: sha256=ab", ("X-Sig", "sha256=ab")),
        ("X-Callback-Url=http://h:8888/", ("X-Callback-Url", "http://h:8888/")),
        ("X-Empty:", ("X-Empty", "")),
    ],
)
def test_headers_in_both_spellings(raw: str, expected: tuple[str, str]) -> None:
    assert parse_header(raw) == expected


@pytest.mark.parametrize("raw", ["no-separator", ": value", "Bad Name: v"])
def test_bad_headers(raw: str) -> None:
    with pytest.raises(BadRequest, match="--header"):
        parse_header(raw)


def test_query_pairs() -> None:
    assert parse_query("k=v=w") == ("k", "v=w")
    assert parse_query("k=") == ("k", "")
    with pytest.raises(BadRequest, match="--query"):
        parse_query("k")


def test_pairs_keep_last_value_and_reject_missing_equals() -> None:
    assert parse_pairs(["a=1", "b=x=y", "a=2"], "--env") == {"a": "2", "b": "x=y"}
    with pytest.raises(BadRequest, match="--label: 'oops'"):
        parse_pairs(["oops"], "--label")


def test_new_stack_text_is_a_valid_stack() -> None:
    from pathlib import Path

    from pyfaas.stack import parse_stack

    text = new_stack_text(
        "http://127.0.0.1:8080",
        stack_entry("long-task", "python3-http", "./long-task", image_name("long-task", "alex/")),
    )
    stack = parse_stack(text, Path("long-task.yml"), {})
    fn = stack.functions["long-task"]
    assert (fn.lang, fn.handler, fn.image) == (
        "python3-http",
        "./long-task",
        "alex/long-task:latest",
    )
    assert image_name("x", None) == "x:latest"


def test_gitignore_entries_added_once(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    (root / ".gitignore").write_text("node_modules\nbuild\n")
    update_gitignore(root)
    update_gitignore(root)
    assert (root / ".gitignore").read_text().splitlines() == [
        "node_modules",
        "build",
        "template",
        ".secrets",
    ]

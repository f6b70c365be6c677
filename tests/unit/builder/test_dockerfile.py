"""The Dockerfile parser and the interpretation of its last stage."""

from __future__ import annotations

import pytest

from pyfaas.builder.dockerfile import logical_lines, plan, stages, words
from pyfaas.errors import BadRequest

LAB = """\
# escape=\\
ARG WATCHDOG=ghcr.io/openfaas/classic-watchdog:0.3.3
FROM --platform=${TARGETPLATFORM:-linux/amd64} ${WATCHDOG} AS watchdog
FROM alpine:3.22 AS ship
ARG GREETING=hello
ARG ADDITIONAL_PACKAGE
COPY --from=watchdog /fwatchdog /usr/bin/fwatchdog
# a comment
RUN apk add --no-cache curl \\
    # a comment inside a continuation
    ${ADDITIONAL_PACKAGE}
RUN mkdir -p /home/app/data
WORKDIR /home/app
USER app
COPY . .
COPY ["a b.txt", "conf/"]
ENV fprocess="sleep 1" write_debug="false" MSG="${GREETING} world"
ENV legacy some value
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=3s CMD [ -e /tmp/.lock ] || exit 1
CMD ["fwatchdog"]
"""


def test_logical_lines_join_continuations_and_drop_comments() -> None:
    instructions, escape = logical_lines(LAB)
    assert escape == "\\"
    run = next(i for i in instructions if i.keyword == "RUN")
    assert run.args == "apk add --no-cache curl ${ADDITIONAL_PACKAGE}"
    assert run.line == 9
    assert all(not i.args.startswith("#") for i in instructions)


def test_multi_stage_uses_global_args_in_from() -> None:
    found, _ = stages(LAB, {"WATCHDOG": "my/watchdog:1"})
    assert [(s.base, s.name) for s in found] == [
        ("my/watchdog:1", "watchdog"),
        ("alpine:3.22", "ship"),
    ]


def test_plan_of_last_stage() -> None:
    result = plan(LAB, {"GREETING": "hi", "ADDITIONAL_PACKAGE": "git"})
    assert result.env == {
        "fprocess": "sleep 1",
        "write_debug": "false",
        "MSG": "hi world",
        "legacy": "some value",
    }
    assert result.workdir == "/home/app"
    assert result.user == "app"
    assert [(c.sources, c.dest) for c in result.copies] == [
        ((".",), "/home/app"),
        (("a b.txt",), "/home/app/conf/"),
    ]
    assert "/home/app/data" in result.mkdirs
    assert result.cmd == ["fwatchdog"]


def test_notes_say_what_cannot_be_honoured() -> None:
    notes = plan(LAB).notes
    assert any(n.startswith("RUN apk add --no-cache curl") and "not run" in n for n in notes)
    assert any(n.startswith("FROM alpine:3.22") for n in notes)
    assert any(n.startswith("USER app") for n in notes)
    assert any(n.startswith("VOLUME /data") for n in notes)
    # mkdir is carried out; the watchdog copy is pyfaas's own business, not a warning.
    assert not any("mkdir" in n or "fwatchdog" in n for n in notes)
    assert any("COPY --from=watchdog" in line for line in plan(LAB).info)


def test_arg_default_is_overridden_by_build_arg_only_when_declared() -> None:
    text = "FROM scratch\nARG A=1\nENV X=$A Y=${B:-none}\n"
    assert plan(text, {"A": "2", "B": "ignored"}).env == {"X": "2", "Y": "none"}


def test_stage_redeclares_global_arg_without_default() -> None:
    text = "ARG V=3.1\nFROM scratch\nARG V\nENV VERSION=$V\n"
    assert plan(text).env == {"VERSION": "3.1"}


def test_mode_and_upstream_from_of_watchdog_image() -> None:
    text = 'FROM python:3.11\nENV fprocess="python index.py" mode="http"\n'
    text += "ENV upstream_url=http://127.0.0.1:5000\n"
    assert plan(text).env["mode"] == "http"
    assert plan(text).env["upstream_url"] == "http://127.0.0.1:5000"


def test_escape_directive_backtick() -> None:
    text = "# escape=`\nFROM scratch\nENV A=one `\n    B=two\n"
    assert plan(text).env == {"A": "one", "B": "two"}


def test_other_cmd_is_noted() -> None:
    notes = plan('FROM scratch\nCMD ["node", "index.js"]\n').notes
    assert notes == [
        'CMD ["node", "index.js"]: not run — pyfaas starts its own watchdog; put the command '
        "in fprocess"
    ]


def test_copy_from_another_image_is_noted() -> None:
    notes = plan("FROM scratch\nCOPY --from=node:20 /usr/local/bin/node /usr/bin/\n").notes
    assert notes
    assert "not copied" in notes[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ENV A=1\n", "before the first FROM"),
        ("# only a comment\n", "no FROM"),
        ("FROM scratch\nFROBNICATE x\n", "unknown instruction FROBNICATE"),
        ("FROM scratch\nENV =x\n", "not key=value"),
        ("FROM scratch\nCOPY onlyone\n", "needs a source"),
    ],
)
def test_bad_dockerfiles_raise_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        plan(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a 'b c' \"d $X\"", ["a", "b c", "d x"]),
        ("'$X' \\$X", ["$X", "$X"]),
        ("${X:+set} ${Y:-dflt} ${E:-e} ${E-kept}", ["set", "dflt", "e", ""]),
        ("$X$X.txt", ["xx.txt"]),
    ],
)
def test_words_substitute_and_unquote(text: str, expected: list[str]) -> None:
    assert words(text, {"X": "x", "E": ""}) == expected

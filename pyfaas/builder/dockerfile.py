"""Parse a Dockerfile into build stages, and the last stage into a plan.

The parser follows Docker's rules: a ``# escape=`` directive, comment lines
(also inside continuations), line continuations, case-insensitive keywords,
JSON and shell forms, ``--flag=value`` options, ``ARG`` scoping (an ``ARG``
before the first ``FROM`` is visible to ``FROM`` lines only, unless a stage
declares it again) and ``${VAR}`` substitution from build args and ``ENV``.

Only the last stage becomes the image; earlier stages matter only as
sources of ``COPY --from``. ``plan`` interprets that stage into what a
process runtime can honour (environment, working directory, files to copy,
directories to create) and says plainly, in ``notes``, what it cannot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pyfaas.builder._interpret import Interpreter
from pyfaas.builder._model import (
    PREDEFINED_ARGS,
    CopyStep,
    Instruction,
    Plan,
    Stage,
    container_path,
    json_form,
    split_flags,
)
from pyfaas.builder._words import expand, words
from pyfaas.errors import BadRequest

_PLATFORM_ARGS = {
    "TARGETPLATFORM": "linux/amd64",
    "BUILDPLATFORM": "linux/amd64",
    "TARGETOS": "linux",
    "BUILDOS": "linux",
    "TARGETARCH": "amd64",
    "BUILDARCH": "amd64",
}
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$")


def logical_lines(text: str) -> tuple[list[Instruction], str]:
    """Split a Dockerfile into instructions; returns them and the escape character."""
    escape = "\\"
    lines = text.splitlines()
    # Parser directives are only recognised before any other line.
    for raw in lines:
        match = _DIRECTIVE.match(raw.strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
    out: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and pending):
            continue
        if not stripped:
            continue
        if not pending:
            start = number
        body = raw.rstrip()
        if body.endswith(escape):
            pending.append(body[: -len(escape)])
            continue
        pending.append(body)
        out.append(_instruction(" ".join(p.strip() for p in pending), start))
        pending = []
    if pending:
        out.append(_instruction(" ".join(p.strip() for p in pending), start))
    return out, escape


def _instruction(text: str, line: int) -> Instruction:
    keyword, _, args = text.partition(" ")
    return Instruction(keyword.upper(), args.strip(), line)


def stages(text: str, build_args: Mapping[str, str] | None = None) -> tuple[list[Stage], str]:
    """The build stages of a Dockerfile; ``FROM`` lines expanded with global ARGs."""
    build_args = dict(build_args or {})
    instructions, escape = logical_lines(text)
    global_args: dict[str, str] = dict(_PLATFORM_ARGS)
    found: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            _flags, rest = split_flags(words(instruction.args, global_args, escape))
            if not rest:
                raise BadRequest(f"line {instruction.line}: FROM needs an image")
            name = rest[2] if len(rest) >= 3 and rest[1].lower() == "as" else None
            found.append(Stage(base=rest[0], name=name, global_args=dict(global_args)))
        elif not found:
            if instruction.keyword != "ARG":
                raise BadRequest(
                    f"line {instruction.line}: {instruction.keyword} before the first FROM"
                )
            for word in words(instruction.args, global_args, escape):
                key, has_default, default = word.partition("=")
                value = build_args.get(key, default if has_default else None)
                if value is not None:
                    global_args[key] = value
        else:
            found[-1].instructions.append(instruction)
    if not found:
        raise BadRequest("the Dockerfile has no FROM line")
    return found, escape


def plan(text: str, build_args: Mapping[str, str] | None = None) -> Plan:
    """Interpret the last stage of ``text`` (see the module docstring)."""
    all_stages, escape = stages(text, build_args)
    stage = all_stages[-1]
    earlier = {s.name for s in all_stages[:-1] if s.name} | {
        str(i) for i in range(len(all_stages) - 1)
    }
    return Interpreter(stage, dict(build_args or {}), escape, earlier).run()


__all__ = [
    "PREDEFINED_ARGS",
    "CopyStep",
    "Instruction",
    "Plan",
    "Stage",
    "container_path",
    "expand",
    "json_form",
    "logical_lines",
    "plan",
    "split_flags",
    "stages",
    "words",
]

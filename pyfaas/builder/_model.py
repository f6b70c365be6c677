"""Dockerfile data types shared by the parser and the interpreter, and small helpers."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field

# Build args Docker defines without an ARG line in the file.
PREDEFINED_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case
    args: str  # the text after the keyword, continuations joined
    line: int  # 1-based line where the instruction starts

    @property
    def source(self) -> str:
        """The instruction as written, on one line, for messages."""
        return f"{self.keyword} {' '.join(self.args.split())}".strip()


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)
    # Values of ARGs declared before the first FROM, which a stage may re-declare.
    global_args: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CopyStep:
    """``COPY``/``ADD`` of build-context paths to a container path."""

    sources: tuple[str, ...]
    dest: str  # absolute container path; ends with "/" when it names a directory
    add: bool = False


@dataclass
class Plan:
    """What the last stage asks of the image, as far as a process runtime goes."""

    base: str
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    user: str | None = None
    copies: list[CopyStep] = field(default_factory=list)
    mkdirs: list[str] = field(default_factory=list)
    cmd: list[str] | None = None
    notes: list[str] = field(default_factory=list)
    # Things done differently but fully covered by pyfaas (e.g. the watchdog binary).
    info: list[str] = field(default_factory=list)
    # Steps that make files or install software, which only a container engine (or
    # the network) could carry out: "RUN npm i (line 12)".
    engine_steps: list[str] = field(default_factory=list)


def json_form(args: str) -> list[str] | None:
    """The list of a JSON-form argument (``["a", "b"]``), or None for shell form."""
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def split_flags(items: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading ``--name=value`` options and the remaining words."""
    flags: dict[str, str] = {}
    index = 0
    while index < len(items) and items[index].startswith("--"):
        name, _, value = items[index][2:].partition("=")
        flags[name.lower()] = value
        index += 1
    return flags, items[index:]


def container_path(path: str, workdir: str) -> str:
    """An absolute, normalised container path; a trailing ``/`` is kept."""
    joined = path if path.startswith("/") else posixpath.join(workdir, path)
    normal = posixpath.normpath(joined)
    if normal.startswith("//"):
        normal = normal[1:]
    return normal + "/" if path.endswith("/") and normal != "/" else normal

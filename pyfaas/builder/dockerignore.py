"""``.dockerignore``: which build-context paths ``COPY`` and ``ADD`` must not see.

The rules are Docker's (moby/patternmatcher and its ``ignorefile`` reader),
not git's, which is why no gitignore library will do: a pattern is anchored
at the context root (``*.pyc`` excludes ``a.pyc`` but not ``src/a.pyc``),
matches with Go's ``filepath.Match`` syntax (``*`` and ``?`` stop at ``/``,
``[a-z]`` and ``[^a-z]`` classes, ``\\`` escapes) plus ``**`` for any number
of directories, and excludes everything below a directory it matches.
Lines starting with ``#`` are comments; a leading ``!`` makes an exception;
the last pattern that matches a path decides.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from pyfaas.errors import BadRequest

FILE_NAME = ".dockerignore"
# Regular-expression characters that mean nothing to filepath.Match: taken literally.
_LITERAL = frozenset(".+()|{}$")


class _Kind(Enum):
    EXACT = "exact"
    PREFIX = "prefix"  # "dir/**"
    SUFFIX = "suffix"  # "**/name"
    REGEXP = "regexp"


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the "!"
    exception: bool
    kind: _Kind
    regexp: re.Pattern[str] | None

    def matches(self, path: str) -> bool:
        if self.kind is _Kind.EXACT:
            return path == self.text
        if self.kind is _Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is _Kind.SUFFIX:
            suffix = self.text[2:]
            # "**/foo" also matches "foo" at the root.
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regexp is not None
        return self.regexp.match(path) is not None


def _clean(path: str) -> str:
    """Go's ``filepath.Clean`` for slash paths (``posixpath.normpath`` keeps ``//``)."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def compile_pattern(line: str) -> Pattern:
    """One pattern as ``ignorefile.ReadAll`` and ``patternmatcher.New`` prepare it."""
    text = line.strip()
    exception = text.startswith("!")
    if exception:
        text = text[1:].strip()
    if not text:
        raise BadRequest(f"{FILE_NAME}: {line.strip()!r} is not a pattern")
    text = _clean(text)
    if len(text) > 1 and text.startswith("/"):
        text = text[1:]  # patterns are relative to the context root
    if not _valid_syntax(text):
        # Docker checks each pattern with filepath.Match, which refuses these.
        raise BadRequest(f"{FILE_NAME}: bad pattern {line.strip()!r}")
    kind, source = _translate(text)
    regexp = None
    if kind is _Kind.REGEXP:
        try:
            regexp = re.compile(source + "$")
        except re.error as exc:
            raise BadRequest(f"{FILE_NAME}: bad pattern {line.strip()!r}: {exc}") from exc
    return Pattern(text, exception, kind, regexp)


def _valid_syntax(pattern: str) -> bool:
    """filepath.Match's syntax: no trailing ``\\``; each ``[`` class closed and made of
    ``lo`` or ``lo-hi`` ranges, where a bare ``-`` or ``]`` must be escaped."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "\\":
            if i + 1 == n:
                return False
            i += 2
        elif pattern[i] == "[":
            end = _class_end(pattern, i + 1)
            if end < 0:
                return False
            i = end
        else:
            i += 1
    return True


def _class_end(pattern: str, i: int) -> int:
    """Index just past the class whose body starts at ``i``; -1 if it is malformed."""
    if pattern.startswith("^", i):
        i += 1
    ranges = 0
    while True:
        if pattern.startswith("]", i) and ranges:
            return i + 1
        i = _class_char(pattern, i)
        if i >= 0 and pattern.startswith("-", i):
            i = _class_char(pattern, i + 1)
        if i < 0:
            return -1
        ranges += 1


def _class_char(pattern: str, i: int) -> int:
    """Index past one (maybe escaped) class character at ``i``; -1 if there is none.
    Like filepath.Match, a class that runs to the end of the pattern is malformed."""
    if i < 0 or i >= len(pattern) or pattern[i] in "-]":
        return -1
    if pattern[i] == "\\":
        i += 1
    i += 1
    return i if i < len(pattern) else -1


def _translate(pattern: str) -> tuple[_Kind, str]:
    """Pattern -> (match kind, regular expression), following patternmatcher's compile."""
    out = ["^"]
    kind = _Kind.EXACT
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        first = i == 0
        i += 1
        if ch == "*" and i < n and pattern[i] == "*":
            i, kind, piece = _double_star(pattern, i + 1, kind)
            out.append(piece)
            if first:
                kind = _Kind.SUFFIX
        elif ch in "*?":
            out.append("[^/]*" if ch == "*" else "[^/]")
            kind = _Kind.REGEXP
        elif ch in _LITERAL:
            out.append("\\" + ch)
        elif ch == "\\" and i < n:  # a trailing one failed _valid_syntax
            # filepath.Match's escape: the next character, taken literally.
            out.append(re.escape(pattern[i]))
            i += 1
            kind = _Kind.REGEXP
        else:
            # Everything else goes through as patternmatcher passes it: "[" and "]"
            # make a class, in which "^" negates, as in filepath.Match.
            out.append(ch)
            if ch in "[]":
                kind = _Kind.REGEXP
    return kind, "".join(out)


def _double_star(pattern: str, i: int, kind: _Kind) -> tuple[int, _Kind, str]:
    """``**`` (its two stars consumed, ``i`` just after): any number of directories."""
    if i < len(pattern) and pattern[i] == "/":
        i += 1  # "**/" is "**"
    if i < len(pattern):
        return i, _Kind.REGEXP, "(.*/)?"
    # A trailing "**" takes everything below; right after literals it is a prefix.
    if kind is _Kind.EXACT:
        return i, _Kind.PREFIX, ""
    return i, _Kind.REGEXP, ".*"


class DockerIgnore:
    """The patterns of one ``.dockerignore``, in order."""

    def __init__(self, patterns: list[Pattern]) -> None:
        self.patterns = patterns

    @classmethod
    def parse(cls, text: str) -> DockerIgnore:
        patterns = []
        for number, raw in enumerate(text.lstrip("\ufeff").splitlines()):
            # As Docker: a comment is a "#" in the first column, before any trimming.
            if raw.startswith("#") or not raw.strip():
                continue
            try:
                patterns.append(compile_pattern(raw))
            except BadRequest as exc:
                raise BadRequest(f"{exc.message} (line {number + 1})") from exc
        return cls(patterns)

    @classmethod
    def read(cls, context: Path) -> DockerIgnore | None:
        """The context's ``.dockerignore``, or None when it has none."""
        path = context / FILE_NAME
        if not path.is_file():
            return None
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadRequest(f"{FILE_NAME}: cannot read it: {exc}") from exc
        return cls.parse(text)

    @property
    def has_exceptions(self) -> bool:
        """True if some ``!`` pattern may bring back a path below an excluded directory."""
        return any(p.exception for p in self.patterns)

    def excludes(self, path: str) -> bool:
        """True if ``path`` (relative to the context, ``/``-separated) is left out.

        A pattern matches the path itself or any of its parent directories
        (patternmatcher's ``MatchesOrParentMatches``); the context root never is.
        """
        path = _clean(path)
        if path in (".", "/"):
            return False
        parents = path.split("/")[:-1]
        excluded = False
        for pattern in self.patterns:
            # Only an exception can undo an exclusion, and only an exclusion can make one.
            if pattern.exception != excluded:
                continue
            hit = pattern.matches(path) or any(
                pattern.matches("/".join(parents[: i + 1])) for i in range(len(parents))
            )
            if hit:
                excluded = not pattern.exception
        return excluded


__all__ = ["FILE_NAME", "DockerIgnore", "Pattern", "compile_pattern"]

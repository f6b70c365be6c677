"""Dockerfile word splitting and ``$VAR`` substitution, as BuildKit's shell lexer does.

Used for the instructions Docker expands at build time (``ENV``, ``ARG``,
``COPY``, ``ADD``, ``WORKDIR``, ``USER``, ``FROM``...). ``RUN`` and ``CMD`` are
never expanded here: their shell would do that at run time. Single quotes are
literal, double quotes allow ``$`` expansion and ``\\"`` escapes, and the
escape character (``\\`` unless a ``# escape=`` directive says otherwise)
protects the next character.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyfaas.errors import BadRequest


def expand(text: str, variables: Mapping[str, str], escape: str = "\\") -> str:
    """``text`` with variables substituted and quotes kept (for JSON-form elements)."""
    return "".join(_Lexer(text, variables, escape, keep_quotes=True).words(split=False))


def words(text: str, variables: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Split ``text`` into words, substituting variables and removing quotes."""
    return _Lexer(text, variables, escape, keep_quotes=False).words(split=True)


class _Lexer:
    def __init__(
        self, text: str, variables: Mapping[str, str], escape: str, *, keep_quotes: bool
    ) -> None:
        self.text = text
        self.pos = 0
        self.variables = variables
        self.escape = escape
        self.keep_quotes = keep_quotes

    def words(self, *, split: bool) -> list[str]:
        out: list[str] = []
        current: list[str] = []
        started = False
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if split and char.isspace():
                self.pos += 1
                if started:
                    out.append("".join(current))
                    current, started = [], False
                continue
            started = True
            current.append(self._token(char))
        if started or not split:
            out.append("".join(current))
        return out

    def _token(self, char: str) -> str:
        if char == self.escape:
            self.pos += 2
            following = self.text[self.pos - 1 : self.pos]
            return (char + following) if self.keep_quotes else following
        if char == "'":
            return self._single_quoted()
        if char == '"':
            return self._double_quoted()
        if char == "$":
            return self._variable()
        self.pos += 1
        return char

    def _single_quoted(self) -> str:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise BadRequest(f"unmatched ' in {self.text!r}")
        inner = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return f"'{inner}'" if self.keep_quotes else inner

    def _double_quoted(self) -> str:
        self.pos += 1
        parts: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                inner = "".join(parts)
                return f'"{inner}"' if self.keep_quotes else inner
            if char == self.escape and self.text[self.pos + 1 : self.pos + 2] in ('"', "$", char):
                parts.append(self.text[self.pos + 1])
                self.pos += 2
            elif char == "$":
                parts.append(self._variable())
            else:
                parts.append(char)
                self.pos += 1
        raise BadRequest(f'unmatched " in {self.text!r}')

    def _variable(self) -> str:
        text, start = self.text, self.pos + 1
        if text[start : start + 1] == "{":
            end = text.find("}", start)
            if end < 0:
                raise BadRequest(f"missing '}}' in {text!r}")
            self.pos = end + 1
            return self._braced(text[start + 1 : end])
        end = start
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        self.pos = max(end, start)
        if end == start:
            return "$"
        return self.variables.get(text[start:end], "")

    def _braced(self, body: str) -> str:
        for operator in (":-", ":+", "-", "+"):
            name, found, word = body.partition(operator)
            if found and name.replace("_", "").isalnum():
                value = self.variables.get(name)
                # With a colon, an empty value counts as unset.
                is_set = bool(value) if operator.startswith(":") else value is not None
                if operator.endswith("-"):
                    return value if is_set and value is not None else word
                return word if is_set else ""
        return self.variables.get(body, "")

"""faas-cli stack files (``stack.yaml``/``stack.yml``): parsing, substitution, selection.

The schema is faas-cli's: ``version``, ``provider`` (``name`` must be
``openfaas``), ``functions`` and ``configuration``. ``${VAR}`` and
``${VAR:-default}`` are substituted in the raw text before parsing, as
faas-cli's envsubst does. Scalars are read as text, so ``version: 1.0`` and a
label ``com.openfaas.scale.min: 2`` keep their spelling. Every problem is one
``ConfigError`` line naming the file and the key.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pyfaas.errors import ConfigError
from pyfaas.types import FunctionResources

DEFAULT_FILES = ("stack.yaml", "stack.yml")
_SUBST = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_TRUE = {"true", "yes", "on", "y", "1"}
_FALSE = {"false", "no", "off", "n", "0", ""}


@dataclass
class StackFunction:
    name: str
    lang: str = ""
    handler: str = ""
    image: str = ""
    fprocess: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    environment_file: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    limits: FunctionResources | None = None
    requests: FunctionResources | None = None
    constraints: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    build_options: list[str] = field(default_factory=list)
    readonly_root_filesystem: bool = False
    namespace: str | None = None
    skip_build: bool = False


@dataclass
class Stack:
    path: Path
    gateway: str | None
    functions: dict[str, StackFunction]
    version: str = "1.0"
    templates: list[dict[str, str]] = field(default_factory=list)
    copy: list[str] = field(default_factory=list)

    @property
    def directory(self) -> Path:
        return self.path.parent

    def handler_dir(self, fn: StackFunction) -> Path:
        return (self.directory / fn.handler).resolve()

    def environment(self, fn: StackFunction) -> dict[str, str]:
        """Inline ``environment``, overridden by each ``environment_file`` in turn."""
        merged = dict(fn.environment)
        for name in fn.environment_file:
            merged.update(_read_env_file(self.directory / name))
        return merged


def substitute(text: str, environ: Mapping[str, str]) -> str:
    """``${VAR}`` -> value or ``""``; ``${VAR:-default}`` -> value, or default if unset or empty."""

    def value(match: re.Match[str]) -> str:
        found = environ.get(match.group(1), "")
        default = match.group(2)
        return found if found or default is None else default

    return _SUBST.sub(value, text)


def find_stack_file(directory: Path) -> Path | None:
    """``stack.yaml``, then ``stack.yml``, in ``directory``."""
    for name in DEFAULT_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def load_stack(path: Path, environ: Mapping[str, str], *, envsubst: bool = True) -> Stack:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the stack file: {exc.strerror}") from exc
    return parse_stack(text, path, environ if envsubst else None)


def parse_stack(text: str, path: Path, environ: Mapping[str, str] | None) -> Stack:
    if environ is not None:
        text = substitute(text, environ)
    try:
        # BaseLoader keeps every scalar as text, as Go decodes into string fields.
        raw = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise ConfigError(f"{path}:{line} invalid YAML: {getattr(exc, 'problem', exc)}") from exc
    reader = _Reader(path)
    top = reader.mapping(raw if raw is not None else {}, "")
    version = reader.text(top.get("version", "1.0"), "version")
    if version not in ("1.0", "1"):
        raise ConfigError(f"{path}: version: {version!r} is not supported (use 1.0)")
    provider = reader.mapping(top.get("provider", {}), "provider")
    name = reader.text(provider.get("name", ""), "provider.name")
    if name != "openfaas":
        raise ConfigError(f"{path}: provider.name: {name!r} must be 'openfaas'")
    functions = reader.mapping(top.get("functions", {}), "functions")
    config = reader.mapping(top.get("configuration", {}), "configuration")
    return Stack(
        path=path,
        gateway=reader.optional(provider.get("gateway"), "provider.gateway"),
        functions={k: reader.function(k, v) for k, v in functions.items()},
        version=version,
        templates=[
            reader.strings(t, f"configuration.templates[{i}]")
            for i, t in enumerate(
                reader.items(config.get("templates", []), "configuration.templates")
            )
        ],
        copy=reader.list_of_text(config.get("copy", []), "configuration.copy"),
    )


def select(
    stack: Stack, pattern: str | None = None, regex: str | None = None
) -> list[StackFunction]:
    """Functions whose name matches ``--filter`` (a glob) or ``--regex``, never both."""
    if pattern and regex:
        raise ConfigError("--filter and --regex cannot be used together")
    chosen = list(stack.functions.values())
    if pattern:
        chosen = [fn for fn in chosen if fnmatch.fnmatchcase(fn.name, pattern)]
    if regex:
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            raise ConfigError(f"--regex: {regex!r} is not a valid expression: {exc}") from exc
        chosen = [fn for fn in chosen if compiled.search(fn.name)]
    return chosen


class _Reader:
    """Type checks of the raw YAML tree; each error names the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.path}: {key or 'top level'}: {what}")

    def mapping(self, value: Any, key: str) -> dict[str, Any]:
        if value == "" or value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, "expected a map")
        return value

    def items(self, value: Any, key: str) -> list[Any]:
        if value == "" or value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "expected a list")
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise self.fail(key, "expected a single value, not a list or map")
        return value

    def optional(self, value: Any, key: str) -> str | None:
        return None if value is None or value == "" else self.text(value, key)

    def strings(self, value: Any, key: str) -> dict[str, str]:
        return {k: self.text(v, f"{key}.{k}") for k, v in self.mapping(value, key).items()}

    def list_of_text(self, value: Any, key: str) -> list[str]:
        return [self.text(v, f"{key}[{i}]") for i, v in enumerate(self.items(value, key))]

    def boolean(self, value: Any, key: str) -> bool:
        text = self.text(value, key).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self.fail(key, f"{value!r} is not true or false")

    def resources(self, value: Any, key: str) -> FunctionResources | None:
        found = self.strings(value, key)
        unknown = set(found) - {"memory", "cpu"}
        if unknown:
            raise self.fail(f"{key}.{sorted(unknown)[0]}", "unknown key (use memory or cpu)")
        return FunctionResources(**found) if found else None

    def function(self, name: str, value: Any) -> StackFunction:
        key = f"functions.{name}"
        raw = self.mapping(value, key)
        env_file = raw.get("environment_file", [])
        return StackFunction(
            name=name,
            lang=self.text(raw.get("lang", ""), f"{key}.lang"),
            handler=self.text(raw.get("handler", ""), f"{key}.handler"),
            image=self.text(raw.get("image", ""), f"{key}.image"),
            fprocess=self.optional(raw.get("fprocess"), f"{key}.fprocess"),
            environment=self.strings(raw.get("environment", {}), f"{key}.environment"),
            environment_file=(
                [env_file]
                if isinstance(env_file, str) and env_file
                else self.list_of_text(env_file, f"{key}.environment_file")
            ),
            secrets=self.list_of_text(raw.get("secrets", []), f"{key}.secrets"),
            labels=self.strings(raw.get("labels", {}), f"{key}.labels"),
            annotations=self.strings(raw.get("annotations", {}), f"{key}.annotations"),
            limits=self.resources(raw.get("limits", {}), f"{key}.limits"),
            requests=self.resources(raw.get("requests", {}), f"{key}.requests"),
            constraints=self.list_of_text(raw.get("constraints", []), f"{key}.constraints"),
            build_args=self.strings(raw.get("build_args", {}), f"{key}.build_args"),
            build_options=self.list_of_text(raw.get("build_options", []), f"{key}.build_options"),
            readonly_root_filesystem=self.boolean(
                raw.get("readonly_root_filesystem", "false"), f"{key}.readonly_root_filesystem"
            ),
            namespace=self.optional(raw.get("namespace"), f"{key}.namespace"),
            skip_build=self.boolean(raw.get("skip_build", "false"), f"{key}.skip_build"),
        )


def _read_env_file(path: Path) -> dict[str, str]:
    """An ``environment_file``: YAML with a top-level ``environment`` map."""
    try:
        raw = yaml.load(path.read_text(), Loader=yaml.BaseLoader)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the environment file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML in the environment file") from exc
    reader = _Reader(path)
    return reader.strings(reader.mapping(raw, "").get("environment", {}), "environment")

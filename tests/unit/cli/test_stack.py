"""Stack file parsing: faas-cli's schema, substitution, selection and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyfaas.errors import ConfigError
from pyfaas.stack import find_stack_file, load_stack, parse_stack, select, substitute

STACK = """\
version: 1.0
provider:
  name: openfaas
  gateway: ${GW:-http://127.0.0.1:8080}
functions:
  long-task:
    lang: python3-http
    handler: ./long-task
    image: ${PREFIX}/long-task:latest
    fprocess: python index.py
    environment:
      write_timeout: 1m
      retries: 3
    environment_file:
      - env.yml
    secrets: [api-key]
    labels:
      com.openfaas.scale.min: 2
    annotations:
      topic: tasks
    limits: {memory: 128Mi, cpu: 100m}
    readonly_root_filesystem: true
    skip_build: no
    namespace: openfaas-fn
    build_args: {PIP: "1"}
    build_options: [dev]
  figlet:
    image: ghcr.io/openfaas/figlet:latest
    skip_build: true
configuration:
  templates:
    - name: python3-http
  copy: [./common]
"""


def parse(text: str, env: dict[str, str] | None = None) -> object:
    return parse_stack(text, Path("/p/stack.yml"), env or {})


def test_full_stack_is_parsed_with_text_scalars() -> None:
    stack = parse_stack(STACK, Path("/p/stack.yml"), {"PREFIX": "alex"})
    assert stack.gateway == "http://127.0.0.1:8080"
    fn = stack.functions["long-task"]
    assert fn.image == "alex/long-task:latest"
    assert fn.environment == {"write_timeout": "1m", "retries": "3"}
    assert fn.labels == {"com.openfaas.scale.min": "2"}
    assert fn.limits is not None
    assert fn.limits.memory == "128Mi"
    assert fn.limits.cpu == "100m"
    assert fn.readonly_root_filesystem is True
    assert fn.skip_build is False
    assert fn.secrets == ["api-key"]
    assert fn.build_args == {"PIP": "1"}
    assert fn.build_options == ["dev"]
    assert stack.functions["figlet"].skip_build is True
    assert stack.templates == [{"name": "python3-http"}]
    assert stack.copy == ["./common"]


def test_substitution_forms() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert substitute("${A} ${B} ${B:-dflt} ${EMPTY:-x} ${A:-y}", env) == "1  dflt x 1"
    assert substitute("$A stays", env) == "$A stays"


def test_no_substitution_when_disabled() -> None:
    stack = parse_stack(STACK, Path("s.yml"), None)
    assert stack.functions["long-task"].image == "${PREFIX}/long-task:latest"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("provider: {name: faas}\nfunctions: {}", "provider.name: 'faas' must be 'openfaas'"),
        ("version: 2.0\nprovider: {name: openfaas}", "version: '2.0'"),
        ("provider: {name: openfaas}\nfunctions: [a]", "functions: expected a map"),
        (
            "provider: {name: openfaas}\nfunctions: {a: {labels: [x]}}",
            "functions.a.labels: expected a map",
        ),
        (
            "provider: {name: openfaas}\nfunctions: {a: {skip_build: maybe}}",
            "functions.a.skip_build: 'maybe' is not true or false",
        ),
        (
            "provider: {name: openfaas}\nfunctions: {a: {limits: {disk: 1G}}}",
            "functions.a.limits.disk: unknown key",
        ),
        ("provider: {name: openfaas\n", "invalid YAML"),
    ],
)
def test_errors_are_one_line_naming_file_and_key(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_stack(text, Path("/p/stack.yml"), {})
    message = str(info.value)
    assert message.startswith("/p/stack.yml")
    assert needle in message
    assert "\n" not in message


def test_environment_files_override_inline_environment(tmp_path: Path) -> None:
    (tmp_path / "env.yml").write_text("environment:\n  retries: 5\n  extra: yes\n")
    path = tmp_path / "stack.yml"
    path.write_text(STACK)
    stack = load_stack(path, {})
    env = stack.environment(stack.functions["long-task"])
    assert env == {"write_timeout": "1m", "retries": "5", "extra": "yes"}


def test_missing_environment_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "stack.yml"
    path.write_text(STACK)
    stack = load_stack(path, {})
    with pytest.raises(ConfigError, match=r"env\.yml: cannot read"):
        stack.environment(stack.functions["long-task"])


def test_select_by_glob_and_regex() -> None:
    stack = parse_stack(STACK, Path("s.yml"), {})
    assert [f.name for f in select(stack, "long-*")] == ["long-task"]
    assert [f.name for f in select(stack, regex="^fig")] == ["figlet"]
    assert len(select(stack)) == 2
    with pytest.raises(ConfigError, match="together"):
        select(stack, "a", "b")
    with pytest.raises(ConfigError, match="--regex"):
        select(stack, regex="(")


def test_default_file_discovery_prefers_stack_yaml(tmp_path: Path) -> None:
    assert find_stack_file(tmp_path) is None
    (tmp_path / "stack.yml").write_text("")
    assert find_stack_file(tmp_path) == tmp_path / "stack.yml"
    (tmp_path / "stack.yaml").write_text("")
    assert find_stack_file(tmp_path) == tmp_path / "stack.yaml"

"""``pyfaas template pull`` and ``template store pull`` with real git, then ``new`` and ``build``.

The "remote" is a git repository made in a temporary directory and reached
through a ``file://`` URL; a store's ``templates.json`` is served by a real
HTTP server on a free port.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pyfaas.cli.main import cli
from pyfaas.images import ImageStore
from pyfaas.paths import StatePaths

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary"),
]

# Runs without an engine: a pyfaas: section, a Dockerfile pyfaas interprets.
SHELL_YML = (
    "language: shell\nfprocess: sh handler.sh\nwelcome_message: {welcome}\n"
    "pyfaas:\n  mode: classic\n"
)
SHELL_DOCKERFILE = (
    'FROM alpine:3.22\nWORKDIR /home/app\nCOPY function/ .\nENV fprocess="sh handler.sh"\n'
)
# No pyfaas: section, but nothing in its Dockerfile needs an engine.
PLAIN_DOCKERFILE = 'FROM scratch\nWORKDIR /srv\nCOPY function/ .\nENV fprocess="cat"\n'
# An OpenFaaS-style template: only a container engine could build it.
NODE_DOCKERFILE = (
    "FROM ghcr.io/openfaas/of-watchdog:0.10.7 AS watchdog\nFROM node:20-alpine\n"
    "COPY --from=watchdog /fwatchdog /usr/bin/fwatchdog\nWORKDIR /home/app\n"
    "COPY package.json ./\nRUN npm i\nCOPY function/ ./function\n"
    'ENV fprocess="node index.js"\n'
)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=60,
    )


def write_template(root: Path, name: str, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / "template" / name / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def shell_files(welcome: str) -> dict[str, str]:
    return {
        "template.yml": SHELL_YML.format(welcome=welcome),
        "Dockerfile": SHELL_DOCKERFILE,
        "function/handler.sh": "cat\n",
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A templates repository: main (v1), tag 1.0, branch v2 (the shell template changed)."""
    root = tmp_path / "templates-repo"
    root.mkdir()
    git(root, "init", "-q", "--initial-branch=main")
    write_template(root, "shell", shell_files("shell v1"))
    write_template(
        root,
        "plain",
        {"template.yml": "language: plain\n", "Dockerfile": PLAIN_DOCKERFILE, "function/x": "x"},
    )
    write_template(
        root,
        "node-ish",
        {
            "template.yml": "language: node-ish\nfprocess: node index.js\n",
            "Dockerfile": NODE_DOCKERFILE,
            "package.json": "{}",
            "function/handler.js": "",
        },
    )
    (root / "README.md").write_text("templates\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "v1")
    git(root, "tag", "1.0")
    git(root, "checkout", "-q", "-b", "v2")
    write_template(root, "shell", shell_files("shell v2"))
    git(root, "commit", "-q", "-am", "v2")
    git(root, "checkout", "-q", "main")
    return root


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "project"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "PYFAAS_HOME": str(tmp_path / "home"),
        "OPENFAAS_CONFIG": str(tmp_path / "cfg"),
        "OPENFAAS_TEMPLATE_URL": "",
        "OPENFAAS_TEMPLATE_STORE_URL": "",
    }


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output + result.stderr
    return result


def failure(result: Result) -> str:
    """What a failed command wrote from its error line on: the plain progress lines a
    step writes when stderr is not a terminal come before it."""
    lines = result.stderr.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith("Error: ")]
    assert starts, result.stderr
    return "".join(lines[starts[0] :])


def welcome(project: Path) -> str:
    return (project / "template" / "shell" / "template.yml").read_text()


def test_pull_writes_templates_and_names_what_needs_an_engine(
    repo: Path, project: Path, env: dict[str, str]
) -> None:
    url = repo.as_uri()
    out = ok(run(env, "template", "pull", url)).stdout.splitlines()
    assert out == [
        f"Fetch templates from repository: {url}",
        f"Wrote 3 template(s) : [node-ish plain shell] from {url}",
        "Note: 1 of them need a container engine, which pyfaas does not have, and cannot "
        "be built: [node-ish] (`pyfaas new --lang NAME` says why)",
    ]
    assert sorted(p.name for p in (project / "template").iterdir()) == [
        "node-ish",
        "plain",
        "shell",
    ]
    assert (project / "template" / "shell" / "function" / "handler.sh").read_text() == "cat\n"
    assert not (project / "template" / "README.md").exists()


def test_existing_templates_are_kept_unless_overwrite(
    repo: Path, project: Path, env: dict[str, str]
) -> None:
    url = repo.as_uri()
    ok(run(env, "template", "pull", url))
    (project / "template" / "shell" / "template.yml").write_text("language: shell\n# mine\n")
    again = ok(run(env, "template", "pull", url)).stdout
    assert "Cannot overwrite the following 3 template(s): [node-ish plain shell]" in again
    assert f"Wrote 0 template(s) : [] from {url}" in again
    assert "# mine" in welcome(project)
    ok(run(env, "template", "pull", url, "--overwrite"))
    assert "shell v1" in welcome(project)


def test_a_ref_pins_a_branch_or_a_tag(repo: Path, project: Path, env: dict[str, str]) -> None:
    url = repo.as_uri()
    first = ok(run(env, "template", "pull", f"{url}#v2")).stdout
    assert first.startswith(f"Fetch templates from repository: {url} at v2\n")
    assert f"from {url}#v2" in first
    assert "shell v2" in welcome(project)
    ok(run(env, "template", "pull", f"{url}#1.0", "--overwrite"))
    assert "shell v1" in welcome(project)
    missing = run(env, "template", "pull", f"{url}#no-such-branch")
    assert missing.exit_code == 1
    assert failure(missing).startswith(f"Error: git clone of {url} at no-such-branch failed: ")
    assert len(failure(missing).splitlines()) == 1


def test_a_local_directory_needs_no_git(
    repo: Path, project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    no_git = {**env, "PATH": str(tmp_path / "empty-bin")}
    ok(run(no_git, "template", "pull", str(repo)))
    assert "shell v1" in welcome(project)
    # A remote does need git, and says so.
    refused = run(no_git, "template", "pull", repo.as_uri())
    assert refused.exit_code == 1
    assert failure(refused) == "Error: git not found: pulling templates needs git on the PATH\n"
    assert refused.stderr.startswith("Pulling templates...\n")  # not a terminal: plain lines
    # A #ref on a local repository is a git checkout too.
    ok(run(env, "template", "pull", f"{repo}#v2", "--overwrite"))
    assert "shell v2" in welcome(project)


def test_default_repository_is_faas_clis(
    project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    # Without git the pull stops before the network, having said where it would go.
    no_git = {**env, "PATH": str(tmp_path / "empty-bin")}
    result = run(no_git, "template", "pull")
    assert result.stdout == (
        "Fetch templates from repository: https://github.com/openfaas/templates.git\n"
    )
    assert result.exit_code == 1


def test_env_repository_and_failures_in_one_line(
    repo: Path, project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    ok(run({**env, "OPENFAAS_TEMPLATE_URL": repo.as_uri()}, "template", "pull"))
    assert (project / "template" / "plain" / "template.yml").is_file()
    gone = run(env, "template", "pull", (tmp_path / "nowhere").as_uri())
    assert gone.exit_code == 1
    assert failure(gone).startswith("Error: git clone of file://")
    assert len(failure(gone).splitlines()) == 1
    empty = tmp_path / "no-templates"
    empty.mkdir()
    git(empty, "init", "-q")
    (empty / "README.md").write_text("x")
    git(empty, "add", ".")
    git(empty, "commit", "-q", "-m", "x")
    bare = run(env, "template", "pull", empty.as_uri())
    assert bare.exit_code == 1
    assert failure(bare) == f"Error: {empty.as_uri()} has no template/ folder\n"


def test_pulled_templates_with_new_and_build(
    repo: Path, project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    ok(run(env, "template", "pull", repo.as_uri()))
    listed = ok(run(env, "new", "--list")).stdout
    assert {"- node-ish", "- plain", "- shell", "- python3-http"} <= set(listed.splitlines())
    created = ok(run(env, "new", "echo", "--lang", "shell", "-p", "me")).stdout
    assert "shell v1" in created
    assert (project / "echo" / "handler.sh").read_text() == "cat\n"
    ok(run(env, "new", "raw", "--lang", "plain", "--append", "echo.yml"))
    ok(run(env, "build", "-f", "echo.yml", "-q"))
    store = ImageStore(StatePaths(tmp_path / "home").images)
    shell = store.get("me/echo:latest")
    assert shell is not None
    assert shell.fprocess == "sh handler.sh"
    assert (store.root_dir("me/echo:latest") / "home" / "app" / "handler.sh").is_file()
    plain = store.get("raw:latest")
    assert plain is not None
    assert plain.fprocess == "cat"

    refused = run(env, "new", "web", "--lang", "node-ish")
    assert refused.exit_code == 1
    # The watchdog copy is covered by pyfaas's own watchdog; npm is what needs an engine.
    assert failure(refused).startswith(
        "Error: template node-ish needs a container engine, which pyfaas does not have: "
        "its Dockerfile needs RUN npm i (line 6); "
    )
    assert len(failure(refused).splitlines()) == 1
    assert not (project / "web").exists()
    # A stack naming it fails the same way at build time.
    (project / "web").mkdir()
    (project / "web.yml").write_text(
        "provider: {name: openfaas}\nfunctions:\n"
        "  web: {lang: node-ish, handler: ./web, image: web:latest}\n"
    )
    build = run(env, "build", "-f", "web.yml")
    assert build.exit_code == 1
    assert "template node-ish needs a container engine" in build.stderr


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def store_server(tmp_path: Path, repo: Path) -> Iterator[str]:
    served = tmp_path / "served"
    served.mkdir()
    entries = [
        {"template": "shell", "source": "acme", "language": "Shell", "repo": repo.as_uri(),
         "description": "A shell template", "official": "false"},
        {"template": "node-ish", "source": "acme", "language": "Node", "repo": repo.as_uri(),
         "description": "Needs an engine", "official": "false"},
    ]  # fmt: skip
    (served / "templates.json").write_text(json.dumps(entries))
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/templates.json"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_store_pull_from_pyfaas_own_store(project: Path, env: dict[str, str]) -> None:
    first = ok(run(env, "template", "store", "pull", "python3-http")).stdout
    assert first == "Wrote 1 template(s) : [python3-http] from pyfaas\n"
    assert (project / "template" / "python3-http" / "index.py").is_file()
    assert (
        "Cannot overwrite the following 1 template(s): [python3-http]"
        in ok(run(env, "template", "store", "pull", "python3-http")).stdout
    )
    missing = run(env, "template", "store", "pull", "cobol")
    assert missing.exit_code == 1
    assert failure(missing) == (
        "Error: pyfaas's template store has no template 'cobol'; "
        "it has: dockerfile, python3, python3-http\n"
    )


def test_store_pull_from_a_store_url_takes_only_that_template(
    store_server: str, project: Path, env: dict[str, str]
) -> None:
    listed = ok(run(env, "template", "store", "list", "--url", store_server)).stdout
    assert listed.splitlines()[1].split()[:2] == ["shell", "Shell"]
    pulled = ok(run(env, "template", "store", "pull", "acme/shell", "-u", store_server)).stdout
    assert "Wrote 1 template(s) : [shell] from file://" in pulled
    assert sorted(p.name for p in (project / "template").iterdir()) == ["shell"]
    from_env = {**env, "OPENFAAS_TEMPLATE_STORE_URL": store_server}
    engine = ok(run(from_env, "template", "store", "pull", "node-ish")).stdout
    assert "cannot be built: [node-ish]" in engine
    bad = run(env, "template", "store", "list", "--url", store_server + ".missing")
    assert bad.exit_code == 1
    assert failure(bad) == f"Error: template store {store_server}.missing answered HTTP 404\n"

"""Python builds end to end: real venvs, real pip, the built function run as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from pyfaas.builder.builder import build_function
from pyfaas.builder.store import ensure_image
from pyfaas.builder.templates import new_handler
from pyfaas.images import ImageManifest, ImageStore
from tests.helpers import wait_for

pytestmark = pytest.mark.integration

# Lab 7's figlet output for "LaterIsBetter" (figlet's standard font, trailing spaces kept).
LATER_IS_BETTER = (
    " _          _           ___     ____       _   _            \n"
    "| |    __ _| |_ ___ _ _|_ _|___| __ )  ___| |_| |_ ___ _ __ \n"
    "| |   / _` | __/ _ \\ '__| |/ __|  _ \\ / _ \\ __| __/ _ \\ '__|\n"
    "| |__| (_| | ||  __/ |  | |\\__ \\ |_) |  __/ |_| ||  __/ |   \n"
    "|_____\\__,_|\\__\\___|_| |___|___/____/ \\___|\\__|\\__\\___|_|   \n"
    "                                                            \n"
)

# Calls an in-process handler the way a python3-http watchdog does.
CALL_HANDLER = """
import json, os, sys, pyfaas.watchdog
from function.handler import handle
class Event:
    body = sys.stdin.buffer.read()
    headers, method, path = {}, "POST", "/"
    query = json.loads(os.environ.get("EVENT_QUERY", "{}"))
result = handle(Event(), None)
sys.stdout.write(result["body"])
"""


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "images")


def run_in_image(
    store: ImageStore,
    manifest: ImageManifest,
    argv: list[str],
    stdin: bytes = b"",
    env: dict[str, str] | None = None,
) -> str:
    """Run ``argv`` with the image's interpreter in its working directory."""
    assert manifest.python is not None
    cwd = store.root_dir(manifest.image) / manifest.workdir.lstrip("/")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [manifest.python, *argv],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env={**clean, **(env or {})},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def test_python3_http_without_requirements(tmp_path: Path, store: ImageStore) -> None:
    handler = new_handler("hello", "python3-http", tmp_path)
    manifest = build_function("hello", "python3-http", handler, "hello", tmp_path, store)
    assert manifest.mode == "inproc"
    assert manifest.handler == "function.handler:handle"
    assert manifest.python == str(store.venv_dir("hello") / "bin" / "python")
    assert Path(manifest.python).exists()
    assert "/.pyenv/shims/" not in os.path.realpath(manifest.python)
    out = run_in_image(store, manifest, ["-c", CALL_HANDLER])
    assert out == "Hello from OpenFaaS!"


def test_python3_classic_echoes_stdin(tmp_path: Path, store: ImageStore) -> None:
    handler = new_handler("echo", "python3", tmp_path)
    manifest = build_function("echo", "python3", handler, "echo", tmp_path, store)
    assert manifest.mode == "classic"
    assert manifest.fprocess == "python3 index.py"
    assert run_in_image(store, manifest, ["index.py"], stdin=b"hello") == "hello\n"


def test_requirements_are_installed_into_the_image_venv(tmp_path: Path, store: ImageStore) -> None:
    handler = new_handler("banner", "python3-http", tmp_path)
    (handler / "requirements.txt").write_text("pyfiglet==1.0.4\n")
    (handler / "handler.py").write_text(
        "import pyfiglet\n\n"
        "def handle(event, context):\n"
        "    return {'statusCode': 200, 'body': pyfiglet.figlet_format(event.body.decode())}\n"
    )
    lines: list[str] = []
    manifest = build_function(
        "banner", "python3-http", handler, "banner", tmp_path, store, progress=lines.append
    )
    assert any("pyfiglet" in line for line in lines)  # pip's progress came through
    site = store.venv_dir("banner") / "lib"
    assert list(site.glob("python3*/site-packages/pyfiglet/__init__.py"))
    out = run_in_image(store, manifest, ["-c", CALL_HANDLER], stdin=b"LaterIsBetter")
    assert out == LATER_IS_BETTER


def test_store_figlet_renders_like_figlet(store: ImageStore) -> None:
    manifest = ensure_image("ghcr.io/openfaas/figlet:latest", store)
    assert manifest is not None
    assert manifest.mode == "inproc"
    out = run_in_image(store, manifest, ["-c", CALL_HANDLER], stdin=b"LaterIsBetter")
    assert out == LATER_IS_BETTER
    figlet = shutil.which("figlet")
    if figlet:
        done = subprocess.run([figlet], input=b"Hi there", capture_output=True, check=True)
        ours = run_in_image(store, manifest, ["-c", CALL_HANDLER], stdin=b"Hi there")
        assert ours == done.stdout.decode()
    # Built once: a second call returns the stored image.
    again = ensure_image("ghcr.io/openfaas/figlet", store)
    assert again is not None
    assert again.created == manifest.created


def test_store_sleep_reads_duration_from_query_body_or_env(store: ImageStore) -> None:
    manifest = ensure_image("ghcr.io/openfaas/sleep:latest", store)
    assert manifest is not None
    assert manifest.mode == "inproc"
    assert manifest.env["sleep_duration"] == "2s"
    query = {"EVENT_QUERY": '{"duration": "50ms"}'}
    assert run_in_image(store, manifest, ["-c", CALL_HANDLER], env=query) == "Slept for: 0.05s\n"
    out = run_in_image(store, manifest, ["-c", CALL_HANDLER], b"0.01", {"sleep_duration": "9s"})
    assert out == "Slept for: 0.01s\n"
    out = run_in_image(store, manifest, ["-c", CALL_HANDLER], env={"sleep_duration": "20ms"})
    assert out == "Slept for: 0.02s\n"


def test_store_nodeinfo_built_once_under_concurrent_deploys(store: ImageStore) -> None:
    lines: list[str] = []
    results: list[ImageManifest | None] = []

    def deploy() -> None:
        results.append(ensure_image("ghcr.io/openfaas/nodeinfo:latest", store, lines.append))

    threads = [threading.Thread(target=deploy) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    assert all(r is not None for r in results)
    assert sum(line.startswith("Building: nodeinfo") for line in lines) == 1
    manifest = results[0]
    assert manifest is not None
    out = run_in_image(store, manifest, ["-c", CALL_HANDLER])
    assert out.startswith("Hostname: ")
    assert f"CPUs: {os.cpu_count()}" in out


def test_store_figlet_behind_the_watchdog(tmp_path: Path, store: ImageStore) -> None:
    """The built image runs under ``python -m pyfaas.watchdog`` from its own venv."""
    manifest = ensure_image("ghcr.io/openfaas/figlet:latest", store)
    assert manifest is not None
    assert manifest.python is not None
    assert manifest.handler is not None
    log = tmp_path / "watchdog.log"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(mode="inproc", PYFAAS_HANDLER=manifest.handler, port="0", TMPDIR=str(tmp_path))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [manifest.python, "-m", "pyfaas.watchdog"],
            cwd=store.root_dir(manifest.image) / manifest.workdir.lstrip("/"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: b"Listening on port: " in log.read_bytes(), timeout=20)
        port = int(log.read_text().split("Listening on port: ")[1].split()[0])
        wait_for(lambda: _ok(f"http://127.0.0.1:{port}/_/health"), timeout=20)
        response = httpx.post(f"http://127.0.0.1:{port}/", content=b"LaterIsBetter", timeout=20)
        assert response.status_code == 200
        assert response.text == LATER_IS_BETTER
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False

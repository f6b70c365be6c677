"""Functions that try to break out of their sandbox, through a real gateway.

Each attacker is a function whose ``fprocess`` is ``sh``: the request body is
the shell script it runs, inside its replica's bubblewrap sandbox. Every
attempt must fail, and the platform must keep serving another function.
"""

from __future__ import annotations

import os
import stat

import pytest

from pyfaas.images import ImageManifest, ImageStore
from tests.helpers import wait_for
from tests.security.conftest import assert_healthy
from tests.security.platform import PYTHON, SHELL, Platform, needs_bwrap

pytestmark = [pytest.mark.integration, needs_bwrap]

MINE = "mine-value-5b0c1e"
THEIRS = "theirs-value-9d27aa"


@pytest.fixture(scope="module")
def attacker(platform: Platform) -> Platform:
    with platform.client() as client:
        for name, value in (("mine", MINE), ("theirs", THEIRS)):
            resp = client.post("/system/secrets", json={"name": name, "value": value})
            assert resp.status_code in (200, 201, 202), resp.text
    platform.deploy("victim", "cat", secrets=["theirs"])
    platform.deploy("attacker", secrets=["mine"])
    return platform


def attempt(platform: Platform, script: str) -> str:
    # A classic function's failure hides its output: end on a command that succeeds.
    resp = platform.run("attacker", script + "\ntrue\n")
    assert resp.status_code == 200, resp.text
    return resp.text


def test_own_secret_is_readable_at_the_openfaas_path(attacker: Platform) -> None:
    assert attempt(attacker, "cat /var/openfaas/secrets/mine") == MINE


def test_cannot_read_another_functions_secret(attacker: Platform) -> None:
    home = attacker.home
    out = attempt(
        attacker,
        f"cat /var/openfaas/secrets/theirs; cat {home}/secrets/openfaas-fn/theirs;"
        f" ls /var/openfaas/secrets; ls {home}",
    )
    assert THEIRS not in out
    assert "theirs" not in out.replace("/theirs", "")
    assert_healthy(attacker)


@pytest.mark.parametrize(
    "target",
    [
        "state/credentials/basic-auth-password",
        "state/provider.db",
        "user/.openfaas/config.yml",
    ],
)
def test_cannot_read_platform_files(attacker: Platform, target: str) -> None:
    path = attacker.root / target
    if target.startswith("user/"):
        path.write_text("auths:\n- gateway: http://x\n  token: config-token-31337\n")
    assert path.exists()
    out = attempt(attacker, f"cat {path} && echo BREACH; ls -a {path.parent}")
    assert "BREACH" not in out
    assert "config-token-31337" not in out
    assert attacker.auth[1] not in out
    assert_healthy(attacker)


def test_cannot_read_a_root_only_file_outside_the_sandbox(attacker: Platform) -> None:
    secret = attacker.root / "root-only"
    secret.write_text("root-only-4242")
    secret.chmod(0o600)
    out = attempt(attacker, f"id -u; cat {secret} && echo BREACH")
    if os.geteuid() == 0:
        assert out.splitlines()[0] == "65534"
    assert "root-only-4242" not in out
    assert "BREACH" not in out


@pytest.mark.parametrize("path", ["/etc/pyfaas-x", "/usr/pyfaas-x", "{home}/x", "/x"])
def test_cannot_write_outside_tmp(attacker: Platform, path: str) -> None:
    path = path.format(home=attacker.home)
    out = attempt(attacker, f"echo x > {path} && echo BREACH; echo ok > /tmp/ok && cat /tmp/ok")
    assert "BREACH" not in out
    assert out.strip().endswith("ok")
    assert not os.path.exists(path)
    assert_healthy(attacker)


def test_its_data_directory_is_writable_its_own_and_kept_across_redeploys(
    attacker: Platform,
) -> None:
    out = attempt(attacker, 'echo kept > "$PYFAAS_DATA_DIR/note"; echo "$PYFAAS_DATA_DIR"')
    assert out.strip() == "/var/openfaas/data"
    # Another function has a data directory of its own: the note is not in it.
    attacker.deploy("peeker")
    peek = attacker.run("peeker", "ls -A /var/openfaas/data\n")
    assert peek.status_code == 200, peek.text
    assert peek.text == ""
    # The function redeployed: its new replica finds what the last one wrote.
    with attacker.client() as client:
        body = {
            "service": "attacker",
            "image": "functions/alpine:latest",
            "envProcess": SHELL,
            "secrets": ["mine"],
            "labels": {"generation": "2"},
        }
        resp = client.put("/system/functions", json=body)
        assert resp.status_code == 202, resp.text
    read = 'cat "$PYFAAS_DATA_DIR/note"'
    wait_for(lambda: attempt(attacker, read).strip() == "kept", timeout=20, interval=0.2)
    assert_healthy(attacker)


def test_dev_shm_is_private_and_writable_so_multiprocessing_locks_work(
    attacker: Platform,
) -> None:
    marker = f"/dev/shm/pyfaas-shm-{os.getpid()}"
    out = attempt(
        attacker,
        f"{PYTHON} -c 'import multiprocessing; multiprocessing.Lock(); print(\"lock ok\")'\n"
        f"echo x > {marker} && echo written",
    )
    assert "lock ok" in out, out
    assert "written" in out, out
    # The function's /dev/shm is its own, not the host's.
    assert not os.path.exists(marker)


def test_sees_only_its_own_processes(attacker: Platform) -> None:
    out = attempt(attacker, "ls /proc | grep -c '^[0-9][0-9]*$'; cat /proc/1/comm; hostname")
    count, init, hostname = out.split()
    # bwrap's init, the watchdog, the shell and ls/grep: a handful, not the host's.
    assert int(count) < 10
    assert init == "bwrap"
    assert hostname == "attacker"
    assert str(attacker.proc.pid) not in attempt(attacker, "ls /proc")


def test_a_function_without_network_cannot_connect(attacker: Platform) -> None:
    attacker.deploy("isolated", labels={"com.pyfaas.network": "none"})
    connect = (
        f"{PYTHON} -c \"import socket; socket.create_connection(('127.0.0.1', {attacker.port}), 2);"
        " print('CONNECTED')\" 2>&1 | tail -1"
    )
    # The same attempt from a function with network works: the check can fail.
    assert "CONNECTED" in attempt(attacker, connect)
    resp = attacker.run("isolated", connect)
    assert resp.status_code == 200, resp.text
    assert "CONNECTED" not in resp.text
    assert "Network is unreachable" in resp.text or "refused" in resp.text
    assert_healthy(attacker)


def test_secret_files_are_private_on_the_host(attacker: Platform) -> None:
    directory = attacker.home / "secrets" / "openfaas-fn"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    credentials = attacker.home / "credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o700
    for path in credentials.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_image_files_are_read_only_at_their_container_path(attacker: Platform) -> None:
    store = ImageStore(attacker.home / "images")
    staging = store.stage("security/app:1")
    app = staging / "root" / "home" / "app"
    app.mkdir(parents=True)
    (app / "data.txt").write_text("image-data")
    (app / "data.txt").chmod(0o644)
    store.commit(staging, ImageManifest(image="security/app:1", lang="dockerfile", fprocess="sh"))
    with attacker.client() as client:
        resp = client.post("/system/functions", json={"service": "app", "image": "security/app:1"})
        assert resp.status_code in (200, 202), resp.text
    attacker.wait_ready("app")
    script = "pwd; cat data.txt; echo; echo x > /home/app/x && echo BREACH\ntrue\n"
    resp = attacker.run("app", script)
    assert resp.status_code == 200, resp.text
    assert resp.text.splitlines()[:2] == ["/home/app", "image-data"]
    assert "BREACH" not in resp.text
    assert not (app.parent.parent.parent / "x").exists()
    assert not list((attacker.home / "images").rglob("x"))
    assert_healthy(attacker)

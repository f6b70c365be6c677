"""What a replica is started with: argv, environment, working directory, fds, limits."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyfaas.errors import BadRequest
from pyfaas.providers.local.images import RunImage
from pyfaas.providers.local.launch import ReplicaSpec, build_launch
from pyfaas.providers.local.limits import (
    HTTP_RLIMIT_FLOOR,
    RLIMIT_FLOOR,
    child_setup,
    parse_memory,
    replica_rlimits,
)
from pyfaas.types import FunctionResources


def spec(tmp_path: Path, image: RunImage, **env_vars: str) -> ReplicaSpec:
    return ReplicaSpec(
        namespace="openfaas-fn",
        name="fn",
        replica_id="fn-abc",
        image=image,
        env_vars=env_vars,
        python="/usr/bin/python3",
        watchdog_args=("-m", "pyfaas.watchdog"),
        scratch=tmp_path / "replica",
        listen_fd=7,
        host_path="/usr/bin:/bin",
    )


def test_host_command_runs_classic_in_a_scratch_directory(tmp_path: Path) -> None:
    launch = build_launch(spec(tmp_path, RunImage(mode="classic", fprocess="cat")))
    assert launch.argv == ["/usr/bin/python3", "-m", "pyfaas.watchdog"]
    assert launch.cwd == tmp_path / "replica" / "work"
    assert launch.pass_fds == (7,)
    env = launch.env
    assert env["PYFAAS_LISTEN_FD"] == "7"
    assert (env["mode"], env["fprocess"]) == ("classic", "cat")
    assert env["TMPDIR"] == str(tmp_path / "replica" / "tmp")
    assert env["PYFAAS_SECRETS_DIR"] == str(tmp_path / "replica" / "secrets")
    assert env["PATH"] == "/usr/bin:/bin"


def test_env_precedence_image_then_env_vars_then_platform(tmp_path: Path) -> None:
    image = RunImage(
        mode="http",
        fprocess="python index.py",
        env={"upstream_url": "http://127.0.0.1:5000", "a": "image", "PATH": "/home/app/bin"},
    )
    env = build_launch(
        spec(tmp_path, image, a="deployment", fprocess="other", PYFAAS_LISTEN_FD="9")
    ).env
    assert env["a"] == "deployment"
    assert env["fprocess"] == "other"
    assert env["upstream_url"] == "http://127.0.0.1:5000"
    assert env["PYFAAS_LISTEN_FD"] == "7"
    assert env["PATH"] == "/usr/bin:/bin"


def test_inproc_uses_the_image_venv(tmp_path: Path) -> None:
    venv_python = tmp_path / "venv" / "bin" / "python"
    image = RunImage(
        mode="inproc",
        fprocess=None,
        workdir=tmp_path / "root" / "home" / "app",
        python=str(venv_python),
        handler="function.handler:handle",
        venv_bin=venv_python.parent,
    )
    launch = build_launch(spec(tmp_path, image))
    assert launch.argv[0] == str(venv_python)
    assert launch.cwd == tmp_path / "root" / "home" / "app"
    assert launch.env["PYFAAS_HANDLER"] == "function.handler:handle"
    assert launch.env["PATH"].startswith(f"{venv_python.parent}:")
    assert "fprocess" not in launch.env


def test_the_gateway_environment_is_not_inherited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYFAAS_HOME", "/secret/home")
    env = build_launch(spec(tmp_path, RunImage(mode="classic", fprocess="env"))).env
    assert "PYFAAS_HOME" not in env


def test_the_locale_is_what_the_image_declares(tmp_path: Path) -> None:
    plain = build_launch(spec(tmp_path, RunImage(mode="classic", fprocess="cat"))).env
    assert "LANG" not in plain
    assert "LC_ALL" not in plain
    declared = RunImage(mode="classic", fprocess="cat", env={"LANG": "C.UTF-8"})
    assert build_launch(spec(tmp_path, declared)).env["LANG"] == "C.UTF-8"


@pytest.mark.integration
def test_a_python_watchdog_passes_no_coerced_locale_to_what_it_forks(tmp_path: Path) -> None:
    # Python in the C locale would set LC_CTYPE for itself and every child.
    env = build_launch(spec(tmp_path, RunImage(mode="classic", fprocess="env"))).env
    code = "import os, sys; print(os.environ.get('LC_CTYPE'), sys.flags.utf8_mode)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["None", "1"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("5Mi", 5 * 1024**2), ("128M", 128 * 1000**2), ("1Gi", 1024**3), ("1024", 1024)],
)
def test_memory_quantities(text: str, expected: int) -> None:
    assert parse_memory(text) == expected


def test_bad_memory_quantity_is_a_bad_request() -> None:
    with pytest.raises(BadRequest, match=r"limits\.memory"):
        parse_memory("lots")


@pytest.mark.integration
def test_memory_limit_becomes_a_data_rlimit_of_the_requested_size_in_the_child() -> None:
    limits = replica_rlimits(FunctionResources(memory="64Mi"))
    assert replica_rlimits(None) == ()
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_DATA)[0])"
    out = subprocess.run(
        [sys.executable, "-c", code],
        preexec_fn=child_setup(limits),
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    assert int(out) == 64 * 1024**2
    assert limits[0].resource == resource.RLIMIT_DATA


def test_a_memory_limit_too_small_for_the_watchdog_is_raised_to_its_floor() -> None:
    (classic,) = replica_rlimits(FunctionResources(memory="5Mi"))
    assert classic.soft == classic.hard == RLIMIT_FLOOR
    (http,) = replica_rlimits(FunctionResources(memory="32Mi"), mode="http")
    assert http.soft == HTTP_RLIMIT_FLOOR
    (big,) = replica_rlimits(FunctionResources(memory="1Gi"), mode="http")
    assert big.soft == 1024**3


@pytest.mark.integration
def test_a_child_whose_parent_is_killed_is_killed_with_it() -> None:
    # A middle process starts a sleeper through child_setup, then is SIGKILLed.
    code = (
        "import subprocess, sys, os, signal;"
        "from pyfaas.providers.local.limits import child_setup;"
        "p = subprocess.Popen(['sleep', '60'], stdout=subprocess.DEVNULL,"
        " stderr=subprocess.DEVNULL, preexec_fn=child_setup(()));"
        "print(p.pid, flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == -9
    sleeper = int(done.stdout)
    deadline = time.monotonic() + 10
    try:
        while alive(sleeper) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(sleeper)
    finally:
        if alive(sleeper):
            os.kill(sleeper, signal.SIGKILL)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")

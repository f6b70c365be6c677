"""A function image's own Python virtualenv.

The venv is created next to the staged image, from the platform's real
interpreter (no pyenv shims), without pip: the platform's pip installs the
requirements into it with ``pip --python``. A ``.pth`` file makes the
platform's packages visible after the function's own, so
``python -m pyfaas.watchdog`` runs inside the venv for in-process functions.

Builds happen in a staging directory that is then renamed into place, so
``relocate`` rewrites the few files that record the venv's path (scripts'
``#!`` lines, activate scripts, ``pyvenv.cfg``); the interpreter itself finds
its prefix from where it is run.
"""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path

import pyfaas
from pyfaas._children import die_with_parent
from pyfaas.errors import BadRequest

PTH_NAME = "_pyfaas_platform.pth"


def base_interpreter() -> Path:
    """The platform's interpreter with symlinks (venvs, shims) resolved."""
    return Path(os.path.realpath(sys.executable))


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def site_packages(venv: Path) -> Path:
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return venv / "lib" / version / "site-packages"


def create(venv: Path, progress: Callable[[str], None] = lambda _: None) -> Path:
    """Create a pip-less venv at ``venv``; returns its interpreter."""
    progress(f"Creating virtualenv with {base_interpreter()}")
    _run([str(base_interpreter()), "-m", "venv", "--without-pip", str(venv)], progress, "venv")
    return venv_python(venv)


def link_platform(venv: Path) -> None:
    """Let ``venv`` see the platform's packages, after its own.

    Done after the requirements are installed, so pip installs everything the
    function asks for into the venv instead of counting the platform's copies.
    """
    (site_packages(venv) / PTH_NAME).write_text(_pth_text())


def _platform_dirs() -> list[str]:
    paths = sysconfig.get_paths()
    found = [paths["purelib"], paths["platlib"]]
    # A source checkout on PYTHONPATH is a platform location too.
    found.append(str(Path(pyfaas.__file__).resolve().parent.parent))
    unique: list[str] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return unique


def _pth_text() -> str:
    # addsitedir (not a bare path) so the platform's own .pth files, such as an
    # editable install's finder, are processed too; appended after the venv's.
    lines = [f"import site; site.addsitedir({path!r})" for path in _platform_dirs()]
    return "\n".join(lines) + "\n"


def has_requirements(path: Path) -> bool:
    if not path.is_file():
        return False
    for line in path.read_text().splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            return True
    return False


def install(
    venv: Path, requirements: Path, progress: Callable[[str], None] = lambda _: None
) -> None:
    """Install ``requirements`` into ``venv`` with the platform's pip."""
    if not has_requirements(requirements):
        return
    progress(f"Installing {requirements.name} with pip")
    command = [*_pip_install(venv), "-r", str(requirements)]
    _run(command, progress, f"pip install -r {requirements.name}", cwd=requirements.parent)


def install_packages(
    venv: Path, packages: Sequence[str], progress: Callable[[str], None] = lambda _: None
) -> None:
    """Install requirement specifiers (names, pins, paths) into ``venv``."""
    if not packages:
        return
    progress(f"Installing {' '.join(packages)} with pip")
    _run([*_pip_install(venv), *packages], progress, f"pip install {' '.join(packages)}")


def _pip_install(venv: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(venv_python(venv)),
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--no-compile",
    ]


def _run(
    command: list[str], progress: Callable[[str], None], what: str, cwd: Path | None = None
) -> None:
    """Run ``command``, streaming its output lines through ``progress``."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PIP_REQUIRE_VIRTUALENV"] = "0"
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # A build the gateway runs (a store function's venv) ends with the gateway.
            preexec_fn=die_with_parent(waited=True),
        )
    except OSError as exc:
        raise BadRequest(f"{what} could not start: {exc}") from exc
    last = ""
    assert proc.stdout is not None
    with proc.stdout:
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                last = line
                progress(line)
    if proc.wait() != 0:
        raise BadRequest(f"{what} failed with exit status {proc.returncode}: {last}")


def relocate(venv: Path, final: Path) -> None:
    """Rewrite the files that name ``venv``'s path so the venv works from ``final``."""
    old, new = str(venv), str(final)
    candidates = [venv / "pyvenv.cfg", *sorted((venv / "bin").iterdir())]
    for path in candidates:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 1 << 20:
            continue
        data = path.read_bytes()
        if old.encode() in data and b"\0" not in data:
            path.write_bytes(data.replace(old.encode(), new.encode()))


def compile_tree(path: Path, shown_as: Path) -> None:
    """Byte-compile ``path`` so a read-only sandbox starts fast; tracebacks show ``shown_as``."""
    if path.is_dir():
        compileall.compile_dir(str(path), ddir=str(shown_as), quiet=2, workers=1)


__all__ = [
    "PTH_NAME",
    "base_interpreter",
    "compile_tree",
    "create",
    "has_requirements",
    "install",
    "install_packages",
    "link_platform",
    "relocate",
    "site_packages",
    "venv_python",
]

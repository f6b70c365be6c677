"""The one place that turns a replica's spec into a command line and environment.

``build_launch(spec)`` decides argv, environment, working directory and the
file descriptors a replica inherits. The sandbox wraps exactly this function:
it prefixes ``argv`` with bubblewrap and binds ``spec.secrets_dir`` at
``SECRETS_MOUNT`` (the path functions read their secrets from), so nothing
else in the provider needs to know whether a sandbox is in use.

The environment is built from scratch, never inherited, so a replica sees
nothing of the gateway's own settings or credentials.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pyfaas.providers.local.cgroups import CgroupManager, ReplicaLimits
from pyfaas.providers.local.images import RunImage
from pyfaas.providers.local.limits import RLimit

if TYPE_CHECKING:
    from pyfaas.providers.local.sandbox import Sandbox

SECRETS_MOUNT = "/var/openfaas/secrets"
DATA_MOUNT = "/var/openfaas/data"
HOST_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class ReplicaSpec:
    """Everything needed to start one replica of one function."""

    namespace: str
    name: str
    replica_id: str
    image: RunImage
    env_vars: dict[str, str]
    python: str
    watchdog_args: tuple[str, ...]
    # The replica's private directory under paths.replicas.
    scratch: Path
    listen_fd: int = -1
    rlimits: tuple[RLimit, ...] = ()
    # None: the replica runs unsandboxed (PYFAAS_SANDBOX=off, or no bubblewrap).
    sandbox: Sandbox | None = None
    host_path: str = HOST_PATH
    labels: dict[str, str] = field(default_factory=dict)
    # Kernel-enforced limits, when the provider has writable cgroup controllers.
    cgroups: CgroupManager | None = None
    limits: ReplicaLimits = field(default_factory=ReplicaLimits)
    # The function's user when it is not the platform's (root drops to nobody).
    run_as: tuple[int, int] | None = None
    # The function's own writable directory, shared by its replicas and kept
    # across their restarts (PYFAAS_DATA_DIR); None: the function has none.
    data_dir: Path | None = None

    @property
    def secrets_dir(self) -> Path:
        return self.scratch / "secrets"

    @property
    def tmp_dir(self) -> Path:
        return self.scratch / "tmp"

    @property
    def work_dir(self) -> Path:
        return self.image.workdir or self.scratch / "work"


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    pass_fds: tuple[int, ...] = ()
    rlimits: tuple[RLimit, ...] = field(default=())
    # True when argv starts bubblewrap: the watchdog is not the process started.
    sandboxed: bool = False


def build_launch(spec: ReplicaSpec) -> Launch:
    image = spec.image
    python = image.python if image.mode == "inproc" and image.python else spec.python
    launch = Launch(
        argv=[python, *spec.watchdog_args],
        env=replica_env(spec),
        cwd=spec.work_dir,
        pass_fds=(spec.listen_fd,) if spec.listen_fd >= 0 else (),
        rlimits=spec.rlimits,
    )
    if spec.sandbox is None:
        return launch
    return spec.sandbox.wrap(launch, spec)


def replica_env(spec: ReplicaSpec) -> dict[str, str]:
    """Base, then the image's ENV, then the deployment's envVars, then the platform's own."""
    image = spec.image
    path = spec.host_path
    if image.venv_bin is not None:
        path = f"{image.venv_bin}{os.pathsep}{path}"
    env = {
        "HOME": str(spec.tmp_dir),
        "TMPDIR": str(spec.tmp_dir),
        # No LANG: as in a container, the locale is what the image declares.
        # A glibc program told LANG=C.UTF-8 loads locale files at every exec
        # (0.2 ms a fork for `cat`). Python gets UTF-8 through its UTF-8 mode,
        # and without locale coercion it passes no LC_CTYPE on to what it forks.
        "PYTHONUTF8": "1",
        "PYTHONCOERCECLOCALE": "0",
        # Log lines must reach the provider as they are written.
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    # A Dockerfile's PATH names container paths; the host's PATH is what works here.
    env.update({k: v for k, v in image.env.items() if k != "PATH"})
    env["PATH"] = path
    env["mode"] = image.mode
    if image.fprocess:
        env["fprocess"] = image.fprocess
    if image.handler:
        env["PYFAAS_HANDLER"] = image.handler
    env.update(spec.env_vars)
    env["OPENFAAS_NAME"] = spec.name
    env["OPENFAAS_NAMESPACE"] = spec.namespace
    env["PYFAAS_REPLICA"] = spec.replica_id
    env["PYFAAS_SECRETS_DIR"] = str(spec.secrets_dir)
    if spec.data_dir is not None:
        env["PYFAAS_DATA_DIR"] = str(spec.data_dir)
    if spec.listen_fd >= 0:
        env["PYFAAS_LISTEN_FD"] = str(spec.listen_fd)
    return env

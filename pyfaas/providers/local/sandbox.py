"""Run a replica inside one bubblewrap sandbox: its own view of the file system.

``Sandbox.wrap(launch, spec)`` turns the watchdog's command line into
``bwrap <options> -- [setpriv ...] <python> -m pyfaas.watchdog``. The sandbox is
set up once per replica; the watchdog and everything it forks share it.

What a replica sees:

* the host's file system read-only, built as a tree of read-only binds so new
  paths (``/home/app``, ``/var/openfaas/secrets``) can be added without
  touching the host;
* the state directory and the platform user's home directory (with its
  ``~/.openfaas`` faas-cli config) replaced by empty tmpfs, except the Python
  runtime the watchdog needs, bound back read-only;
* its image's files read-only at their container paths, its own secrets
  read-only at ``/var/openfaas/secrets``, its scratch directory as ``/tmp``,
  and its function's own data directory writable at ``/var/openfaas/data``
  (``PYFAAS_DATA_DIR``: the same for every replica, kept across restarts);
* fresh ``/dev`` and ``/proc``, its own PID, IPC and UTS namespaces (hostname
  = function name), no network when the label ``com.pyfaas.network=none`` is
  set (the listening socket is passed in, so the gateway still reaches it).

When the platform runs as root, functions run as ``run_as`` (nobody) through
``setpriv`` with no capabilities and ``no_new_privs``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import pyfaas
from pyfaas.errors import ConfigError
from pyfaas.providers.local.launch import DATA_MOUNT, SECRETS_MOUNT, Launch, ReplicaSpec

NETWORK_LABEL = "com.pyfaas.network"
NETWORK_NONE = "none"
NOBODY = (65534, 65534)
# Many image files would mean many mounts; past this the image is bound whole.
MAX_IMAGE_BINDS = 64
SYSTEM_PACKAGE = "bubblewrap"

log = logging.getLogger("pyfaas.provider")

# A mount plan: (destination, option, source); option is a bwrap flag.
Mount = tuple[str, str, str]
# A mount kind of our own: a private tmpfs on /dev/shm that anyone may write.
SHARED_MEMORY = "shared-memory"
SHM_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Sandbox:
    """How replicas are sandboxed; built once by ``detect`` at provider start."""

    bwrap: str
    hidden: tuple[Path, ...]
    runtime: tuple[Path, ...]
    run_as: tuple[int, int] | None = None
    setpriv: str | None = None

    def wrap(self, launch: Launch, spec: ReplicaSpec) -> Launch:
        """The same replica, started inside its own bubblewrap."""
        inside = container_cwd(spec)
        env = dict(launch.env)
        env.update(HOME="/tmp", TMPDIR="/tmp", PYFAAS_SECRETS_DIR=SECRETS_MOUNT)
        if spec.data_dir is not None:
            env["PYFAAS_DATA_DIR"] = DATA_MOUNT
        argv = [self.bwrap, *self.options(spec), "--chdir", inside, "--"]
        if self.run_as is not None and self.setpriv is not None:
            uid, gid = self.run_as
            argv += [
                self.setpriv,
                f"--reuid={uid}",
                f"--regid={gid}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]
        return replace(launch, argv=argv + launch.argv, env=env, sandboxed=True)

    def options(self, spec: ReplicaSpec) -> list[str]:
        args = [
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--hostname",
            spec.name[:63],
        ]
        if spec.labels.get(NETWORK_LABEL, "").strip().lower() == NETWORK_NONE:
            args.append("--unshare-net")
        if self.run_as is not None and self.setpriv is not None:
            # Only to let setpriv switch user; it drops every capability before exec.
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        for dest, option, source in self.mounts(spec):
            if option == "--dir":
                # bwrap makes the parents it creates 0700: unreadable to the function.
                args += ["--perms", "0755", "--dir", dest]
            elif option == SHARED_MEMORY:
                # A private, writable /dev/shm, as a container engine gives each
                # container (64 MiB, Docker's default): POSIX semaphores, and so
                # multiprocessing's locks, need one; bwrap's --dev leaves it
                # root-owned 0755. Its pages count against the replica's memory.
                args += ["--perms", "1777", "--size", str(SHM_BYTES), "--tmpfs", dest]
            else:
                args += [option, dest] if not source else [option, source, dest]
        return args

    def mounts(self, spec: ReplicaSpec) -> list[Mount]:
        targets: dict[str, Mount] = {}
        for path in self.hidden:
            # The replica's own /tmp replaces the host's, hiding what is under it.
            if not _under(path, Path("/tmp")):
                targets[str(path)] = (str(path), "--tmpfs", "")
        # The interpreter, the platform's packages and the image's venv live
        # where they were installed; bind them back where a hidden tree covers them.
        # The replica's /tmp covers the host's too: a checkout or venv under /tmp
        # (CI clones often are) must come back as well.
        venv = spec.image.venv_bin.parent if spec.image.venv_bin is not None else None
        covering = (*self.hidden, Path("/tmp"))
        for path in (*self.runtime, *([venv] if venv else [])):
            if any(_under(path, hidden) for hidden in covering):
                targets[str(path)] = (str(path), "--ro-bind", str(path))
        for dest, source in image_binds(spec.image.root):
            targets[dest] = (dest, "--ro-bind", source)
        targets["/tmp"] = ("/tmp", "--bind", str(spec.tmp_dir))
        targets[SECRETS_MOUNT] = (SECRETS_MOUNT, "--ro-bind", str(spec.secrets_dir))
        if spec.data_dir is not None:
            targets[DATA_MOUNT] = (DATA_MOUNT, "--bind", str(spec.data_dir))
        targets["/dev"] = ("/dev", "--dev", "")
        targets["/dev/shm"] = ("/dev/shm", SHARED_MEMORY, "")
        targets["/proc"] = ("/proc", "--proc", "")
        return with_parents(plan_tree(Path("/"), targets))


def plan_tree(directory: Path, targets: Mapping[str, Mount]) -> list[Mount]:
    """Read-only binds of ``directory``'s entries, with ``targets`` grafted in.

    A host directory with a target below it is recreated (``--dir``) and its
    entries are bound one by one. A target is followed by the targets inside
    it, shallowest first (so a tmpfs comes before what is bound into it);
    bwrap creates the parents of a target the host does not have.
    """
    plan: list[Mount] = []
    below = [t for t in targets if _strictly_under(t, str(directory))]
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        entries = []
    names: set[str] = set()
    for entry in entries:
        path = os.path.join(str(directory), entry.name)
        names.add(path)
        inner = [t for t in below if t == path or _strictly_under(t, path)]
        if path in targets or (inner and not entry.is_dir(follow_symlinks=False)):
            plan.extend(_by_depth(inner, targets))
        elif inner:
            plan.append((path, "--dir", ""))
            plan.extend(plan_tree(Path(path), targets))
        elif entry.is_symlink():
            plan.append((path, "--symlink", os.readlink(path)))
        else:
            plan.append((path, "--ro-bind", path))
    orphans = [t for t in below if _top(t, str(directory)) not in names]
    return plan + _by_depth(orphans, targets)


def with_parents(plan: list[Mount]) -> list[Mount]:
    """``plan`` with a ``--dir`` before each mount whose parents nothing created yet."""
    made = {"/"} | {dest for dest, _, _ in plan if not _strictly_under(dest, "/tmp")}
    made.add("/tmp")
    out: list[Mount] = []
    for mount in plan:
        for parent in reversed(Path(mount[0]).parents):
            if str(parent) not in made:
                made.add(str(parent))
                out.append((str(parent), "--dir", ""))
        out.append(mount)
    return out


def _by_depth(paths: Iterable[str], targets: Mapping[str, Mount]) -> list[Mount]:
    return [targets[t] for t in sorted(paths, key=lambda t: (t.count("/"), t))]


def _top(path: str, directory: str) -> str:
    return os.path.join(directory, Path(path).relative_to(directory).parts[0])


def _strictly_under(path: str, parent: str) -> bool:
    return path != parent and _under(Path(path), Path(parent))


def _under(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def image_binds(root: Path | None) -> list[tuple[str, str]]:
    """(container path, host path) for an image's files: the topmost new path of each."""
    if root is None or not root.is_dir():
        return []
    binds: list[tuple[str, str]] = []
    pending = [root]
    while pending:
        current = pending.pop()
        for entry in sorted(os.scandir(current), key=lambda e: e.name):
            source = Path(entry.path)
            dest = "/" + str(source.relative_to(root))
            host = Path(dest)
            if entry.is_dir(follow_symlinks=False) and host.is_dir() and not host.is_symlink():
                pending.append(source)
            else:
                binds.append((dest, str(source)))
    if len(binds) > MAX_IMAGE_BINDS:
        raise ConfigError(f"image at {root} has more than {MAX_IMAGE_BINDS} top-level paths")
    return binds


def container_cwd(spec: ReplicaSpec) -> str:
    """The working directory inside the sandbox: the image's WORKDIR, else /tmp."""
    root, workdir = spec.image.root, spec.image.workdir
    if root is not None and workdir is not None and _under(workdir, root):
        return "/" + str(workdir.relative_to(root)) if workdir != root else "/"
    return "/tmp"


def runtime_paths() -> tuple[Path, ...]:
    """Where the watchdog's interpreter and the platform's packages are installed."""
    package_parent = Path(pyfaas.__file__).resolve().parent.parent
    found = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), package_parent}
    found.add(Path(os.path.realpath(sys.executable)).parent.parent)
    return tuple(sorted(found))


def detect(
    mode: str,
    home: Path,
    *,
    bwrap: str = "bwrap",
    user_home: Path | None = None,
) -> Sandbox | None:
    """The sandbox to use under ``PYFAAS_SANDBOX=mode``; None to run unsandboxed.

    ``required`` raises ``ConfigError`` if bubblewrap is missing or does not work
    here; ``auto`` logs a WARNING naming the package and goes on without it.
    """
    if mode == "off":
        return None
    found = shutil.which(bwrap)
    problem = _probe(found) if found else f"{bwrap} is not installed"
    if problem is not None:
        if mode == "required":
            raise ConfigError(
                f"PYFAAS_SANDBOX: 'required' but bubblewrap cannot run: {problem}"
                f" (install the {SYSTEM_PACKAGE} package)"
            )
        log.warning(
            "WARNING: functions run UNSANDBOXED: %s; install the %s package (scripts/system-deps)"
            " or set PYFAAS_SANDBOX=off to silence this",
            problem,
            SYSTEM_PACKAGE,
        )
        return None
    assert found is not None
    hidden = [home.resolve()]
    user_home = (user_home or Path.home()).resolve()
    if user_home != Path("/"):
        hidden.append(user_home)
    run_as: tuple[int, int] | None = None
    setpriv = shutil.which("setpriv")
    runtime = runtime_paths()
    if os.geteuid() == 0:
        if setpriv is None:
            log.warning("WARNING: functions run as root in their sandbox: setpriv is not installed")
        else:
            run_as = NOBODY
            # A runtime under a directory only root may enter (/root/.pyenv) would
            # be out of the function user's reach: hide the directory, bind the
            # runtime back.
            hidden.extend(p for p in _closed_ancestors(runtime) if p not in hidden)
    return Sandbox(
        bwrap=found,
        hidden=tuple(hidden),
        runtime=runtime,
        run_as=run_as,
        setpriv=setpriv,
    )


def _closed_ancestors(paths: Iterable[Path]) -> list[Path]:
    """The outermost directories above ``paths`` that others may not search."""
    closed: list[Path] = []
    for path in paths:
        for parent in reversed(path.parents):
            try:
                searchable = parent.stat().st_mode & 0o001
            except OSError:
                continue
            if not searchable:
                if parent not in closed:
                    closed.append(parent)
                break
    return closed


def _probe(bwrap: str) -> str | None:
    """None if a minimal sandbox starts here, else why not (one line)."""
    argv = [bwrap, "--ro-bind", "/", "/", "--unshare-pid", "--die-with-parent", "--", "true"]
    try:
        result = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{bwrap} does not run: {exc}"
    if result.returncode != 0:
        why = result.stderr.decode(errors="replace").strip().splitlines()
        return f"{bwrap} does not work here: {why[-1] if why else result.returncode}"
    return None


def payload_pid(bwrap_pid: int) -> int | None:
    """The host PID of the command bubblewrap runs (below its own init process)."""
    children = _children()
    pid = bwrap_pid
    for _ in range(3):
        kids = children.get(pid, [])
        if not kids:
            return None if pid == bwrap_pid else pid
        pid = kids[0]
        if _comm(pid) != "bwrap":
            return pid
    return pid


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``'s descendants, innermost first (killing a PID namespace's init ends it)."""
    children = _children()
    order: list[int] = []
    pending = list(children.get(pid, []))
    while pending:
        child = pending.pop()
        order.append(child)
        pending.extend(children.get(child, []))
    for child in reversed(order):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, signal.SIGKILL)


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: split after the last ')'.
        fields = stat.rpartition(")")[2].split()
        if len(fields) > 1:
            found.setdefault(int(fields[1]), []).append(int(name))
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""

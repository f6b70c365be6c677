"""The sandbox's mount plan and the cgroup limits, checked without a gateway."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pyfaas.errors import BadRequest
from pyfaas.providers.local.cgroups import CgroupManager, ReplicaLimits, parse_cpu
from pyfaas.providers.local.images import RunImage
from pyfaas.providers.local.launch import SECRETS_MOUNT, ReplicaSpec, build_launch
from pyfaas.providers.local.limits import (
    CGROUP_RUNTIME_ALLOWANCE,
    parse_cpu_limit,
    replica_limits,
    replica_rlimits,
)
from pyfaas.providers.local.sandbox import (
    NETWORK_LABEL,
    Sandbox,
    container_cwd,
    image_binds,
    plan_tree,
    with_parents,
)
from pyfaas.types import FunctionResources


def spec(tmp_path: Path, image: RunImage | None = None, **fields: object) -> ReplicaSpec:
    return ReplicaSpec(
        namespace="openfaas-fn",
        name="fn",
        replica_id="fn-1",
        image=image or RunImage(mode="classic", fprocess="cat"),
        env_vars={},
        python="/usr/bin/python3",
        watchdog_args=("-m", "pyfaas.watchdog"),
        scratch=tmp_path / "scratch",
        **fields,  # type: ignore[arg-type]
    )


def sandbox(home: Path) -> Sandbox:
    return Sandbox(bwrap="/usr/bin/bwrap", hidden=(home,), runtime=(home / "runtime",))


def test_plan_grafts_new_paths_without_touching_the_host(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "kept").write_text("x")
    (tmp_path / "link").symlink_to("a")
    targets = {
        str(tmp_path / "a" / "new" / "deep"): (str(tmp_path / "a/new/deep"), "--ro-bind", "/src"),
        str(tmp_path / "b"): (str(tmp_path / "b"), "--tmpfs", ""),
    }
    plan = with_parents(plan_tree(tmp_path, targets))
    dests = [(dest, option) for dest, option, _ in plan]
    assert (str(tmp_path / "a"), "--dir") in dests
    assert (str(tmp_path / "a" / "kept"), "--ro-bind") in dests
    assert (str(tmp_path / "link"), "--symlink") in dests
    # The missing parent is created (0755) before the bind into it.
    assert dests.index((str(tmp_path / "a" / "new"), "--dir")) < dests.index(
        (str(tmp_path / "a" / "new" / "deep"), "--ro-bind")
    )
    assert (str(tmp_path / "b"), "--tmpfs") in dests
    assert not (tmp_path / "a" / "new").exists()


def test_a_runtime_under_tmp_is_bound_back_over_the_replicas_tmp(tmp_path: Path) -> None:
    # A checkout (and its venv) under /tmp, as CI clones often are: the
    # replica's own /tmp must not hide the interpreter the watchdog runs on.
    runtime = Path("/tmp/checkout/.venv")
    box = Sandbox(bwrap="/usr/bin/bwrap", hidden=(Path("/var/tmp/state"),), runtime=(runtime,))
    plan = [(dest, option, source) for dest, option, source in box.mounts(spec(tmp_path))]
    dests = [dest for dest, _, _ in plan]
    assert ("/tmp/checkout/.venv", "--ro-bind", "/tmp/checkout/.venv") in plan
    # The scratch bind comes first, then what is grafted into it.
    assert dests.index("/tmp") < dests.index("/tmp/checkout/.venv")


def test_hidden_state_keeps_only_the_runtime(tmp_path: Path) -> None:
    home = Path("/var/tmp/state-for-plan")
    options = sandbox(home).options(spec(tmp_path, labels={}))
    joined = " ".join(options)
    assert f"--tmpfs {home}" in joined
    assert "--unshare-net" not in options
    assert f"--ro-bind {tmp_path}/scratch/secrets {SECRETS_MOUNT}" in joined
    assert f"--bind {tmp_path}/scratch/tmp /tmp" in joined
    assert "--unshare-pid" in options
    assert options[options.index("--hostname") + 1] == "fn"


def test_the_network_label_unshares_the_network(tmp_path: Path) -> None:
    options = sandbox(Path("/var/tmp/x")).options(spec(tmp_path, labels={NETWORK_LABEL: "none"}))
    assert "--unshare-net" in options


def test_launch_inside_the_sandbox_sees_container_paths(tmp_path: Path) -> None:
    launch = build_launch(spec(tmp_path, sandbox=sandbox(Path("/var/tmp/x"))))
    assert launch.sandboxed
    assert launch.argv[0] == "/usr/bin/bwrap"
    assert launch.argv[-3:] == ["/usr/bin/python3", "-m", "pyfaas.watchdog"]
    assert launch.env["PYFAAS_SECRETS_DIR"] == SECRETS_MOUNT
    assert launch.env["HOME"] == "/tmp"


def test_image_files_go_to_their_container_paths(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "home" / "app").mkdir(parents=True)
    (root / "home" / "app" / "handler.py").write_text("")
    binds = image_binds(root)
    assert binds == [("/home/app", str(root / "home" / "app"))]
    image = RunImage(mode="classic", fprocess="x", workdir=root / "home" / "app", root=root)
    assert container_cwd(spec(tmp_path, image)) == "/home/app"
    assert container_cwd(spec(tmp_path)) == "/tmp"


def test_cpu_and_memory_quantities() -> None:
    assert parse_cpu("500m") == 500
    assert parse_cpu("2") == 2000
    assert parse_cpu("0.25") == 250
    with pytest.raises(BadRequest, match=r"limits\.cpu"):
        parse_cpu_limit("lots")
    limits = replica_limits(FunctionResources(memory="64Mi", cpu="250m"), 100)
    assert limits == ReplicaLimits(
        memory=64 * 1024 * 1024 + CGROUP_RUNTIME_ALLOWANCE, cpu_millis=250, pids=100
    )
    # With a memory cgroup the address-space rlimit would only get in its way.
    assert replica_rlimits(FunctionResources(memory="64Mi"), memory_cgroup=True) == ()
    assert replica_rlimits(FunctionResources(memory="64Mi"))


@pytest.mark.integration  # runs a process inside a real cgroup
def test_cgroup_limits_are_written_and_enforced() -> None:
    manager = CgroupManager.detect(f"pyfaas-test-{os.getpid()}")
    if manager is None or "pids" not in manager.controllers:
        pytest.skip("no writable pids cgroup controller here")
    try:
        group = manager.create("probe", ReplicaLimits(memory=64 << 20, cpu_millis=500, pids=8))
        if "cpu" in group.dirs and manager.version == 1:
            assert (group.dirs["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "50000"
        if "memory" in group.dirs and manager.version == 1:
            limit = (group.dirs["memory"] / "memory.limit_in_bytes").read_text()
            assert int(limit) == 64 << 20
        procs = group.procs_files
        script = f"import os\nfor p in {procs!r}: open(p, 'w').write('0')\n"
        script += "import subprocess\nkids = []\n"
        script += "try:\n    kids = [subprocess.Popen(['sleep', '5']) for _ in range(20)]\n"
        script += "except OSError:\n    print('refused')\n"
        result = subprocess.run(["python3", "-c", script], capture_output=True, text=True)
        assert "refused" in result.stdout, result.stderr
        assert group.counters().pids_max > 0
        group.remove()
        assert not any(d.exists() for d in group.dirs.values())
    finally:
        manager.close()
    assert not any(p.exists() for p in manager.parents.values())


def test_groups_of_a_dead_provider_are_removed_at_start() -> None:
    manager = CgroupManager.detect(f"pyfaas-test-{os.getpid()}")
    if manager is None:
        pytest.skip("no writable cgroup controller here")
    own = next(iter(manager.parents.values())).parent
    manager.close()
    # PIDs never reach this high: the provider that made this group is gone.
    stale = own / "pyfaas-4999999"
    (stale / "replica-1").mkdir(parents=True)
    again = CgroupManager.detect(f"pyfaas-test-{os.getpid()}")
    assert again is not None
    again.close()
    assert not stale.exists()

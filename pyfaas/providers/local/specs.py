"""How a function's record becomes the ``ReplicaSpec`` of each replica it starts.

``spec_factory`` fixes what is the same for every replica of one deployment
(the watchdog's mode, its rlimits and cgroup limits, the sandbox's user) and
returns the coroutine the supervisor calls per replica, which makes that
replica's scratch directories and copies its secrets in.
"""

from __future__ import annotations

import os
from pathlib import Path

from pyfaas.paths import StatePaths
from pyfaas.providers.local.cgroups import CgroupManager
from pyfaas.providers.local.images import RunImage
from pyfaas.providers.local.launch import ReplicaSpec
from pyfaas.providers.local.limits import replica_limits, replica_rlimits
from pyfaas.providers.local.sandbox import Sandbox
from pyfaas.providers.local.secrets import SecretStore
from pyfaas.providers.local.settings import LocalProviderSettings
from pyfaas.providers.local.store import FunctionRecord
from pyfaas.providers.local.supervisor import SpecFactory


def spec_factory(
    record: FunctionRecord,
    run: RunImage,
    settings: LocalProviderSettings,
    paths: StatePaths,
    secrets: SecretStore,
    sandbox: Sandbox | None,
    cgroups: CgroupManager | None,
) -> SpecFactory:
    deployment = record.deployment
    secret_names = list(deployment.secrets or [])
    memory_cgroup = cgroups is not None and "memory" in cgroups.controllers
    rlimits = replica_rlimits(
        deployment.limits, memory_cgroup=memory_cgroup, mode=watchdog_mode(record, run)
    )
    limits = replica_limits(deployment.limits, settings.replica_pids)
    run_as = sandbox.run_as if sandbox is not None else None
    key = (record.namespace, record.name)

    async def make_spec(replica_id: str) -> ReplicaSpec:
        spec = ReplicaSpec(
            namespace=record.namespace,
            name=record.name,
            replica_id=replica_id,
            image=run,
            env_vars=dict(deployment.env_vars or {}),
            python=settings.python,
            watchdog_args=settings.watchdog_args,
            scratch=paths.replicas / record.namespace / record.name / replica_id,
            rlimits=rlimits,
            sandbox=sandbox,
            host_path=settings.host_path,
            labels=dict(deployment.labels or {}),
            cgroups=cgroups,
            limits=limits,
            run_as=run_as,
            data_dir=paths.function_data(*key),
        )
        for directory in (spec.tmp_dir, spec.work_dir, paths.function_data(*key)):
            directory.mkdir(parents=True, exist_ok=True)
            if run_as is not None and not _under(directory, run.root):
                os.chown(directory, *run_as)
        # Values are read now, so a secret updated before a redeploy is seen.
        secrets.copy_to(secret_names, record.namespace, spec.secrets_dir, run_as)
        return spec

    return make_spec


def watchdog_mode(record: FunctionRecord, run: RunImage) -> str:
    """The watchdog's mode: the image's, unless the deployment's envVars set another."""
    return (record.deployment.env_vars or {}).get("mode") or run.mode


def _under(path: Path, root: Path | None) -> bool:
    return root is not None and (path == root or root in path.parents)

"""How a function's limits are enforced, in the words describe and serve's warning use."""

from __future__ import annotations

from pyfaas.providers.local.enforcement import enforcement, unenforced_warning
from pyfaas.types import FunctionResources

ALL = ("cpu", "memory", "pids")


def test_no_limit_asked_for_says_nothing() -> None:
    assert enforcement(None, (), "classic", 256) is None
    assert enforcement(FunctionResources(), ALL, "classic", 256) is None


def test_cgroups_enforce_every_limit() -> None:
    text = enforcement(FunctionResources(memory="64Mi", cpu="500m"), ALL, "classic", 256)
    assert text == (
        "memory: 64Mi requested, enforced by a memory cgroup of 96Mi for the replica"
        " (32Mi of it for the watchdog); cpu: 500m requested, enforced by a cpu cgroup"
        " quota of 0.5 core; processes: at most 256 per replica, enforced by a pids cgroup"
    )


def test_without_cgroups_memory_is_a_per_process_rlimit_and_the_rest_unenforced() -> None:
    text = enforcement(FunctionResources(memory="64Mi", cpu="1"), (), "classic", 256)
    assert text == (
        "memory: 64Mi requested, enforced as a data rlimit (RLIMIT_DATA) of 64Mi for each"
        " process of the replica, not for the replica as a whole (no writable memory cgroup);"
        " cpu: 1 requested, not enforced (no writable cpu cgroup);"
        " processes: not limited (no writable pids cgroup)"
    )


def test_a_request_too_small_to_start_the_watchdog_says_what_it_became() -> None:
    text = enforcement(FunctionResources(memory="5Mi"), (), "classic", 256)
    assert text is not None
    assert "data rlimit (RLIMIT_DATA) of 16Mi" in text
    assert "raised to the 16Mi the watchdog needs in classic mode" in text
    http = enforcement(FunctionResources(memory="32Mi"), (), "http", 256)
    assert http is not None
    assert "raised to the 64Mi the watchdog needs in http mode" in http


def test_the_warning_names_what_is_not_enforced_and_the_fix() -> None:
    assert unenforced_warning(ALL) is None
    line = unenforced_warning(("memory",))
    assert line is not None
    assert "\n" not in line
    assert line.startswith("WARNING: function limits are NOT fully enforced (no writable cpu/pids")
    assert "limits.cpu is not enforced, the process limit is not enforced" in line
    assert "limits.memory" not in line
    assert "delegated cgroup" in line
    off = unenforced_warning((), wanted=False)
    assert off is not None
    assert "(PYFAAS_CGROUPS=false)" in off
    assert "unset PYFAAS_CGROUPS and run pyfaas serve in a delegated cgroup" in off
    assert "limits.memory is only a per-process data rlimit" in off

"""The ``cpu_wait`` setting: libgomp environment per choice, explicit environment wins, too late is a no-op."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from toolproxy.backends import _openmp
from toolproxy.settings import Settings


def test_environment_per_choice() -> None:
    assert _openmp.environment("passive") == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert _openmp.environment("ACTIVE") == {"OMP_WAIT_POLICY": "ACTIVE"}
    assert _openmp.environment("spin") == {}
    assert _openmp.environment("100000") == {"GOMP_SPINCOUNT": "100000"}
    with pytest.raises(ValueError, match="cpu_wait"):
        _openmp.check("sometimes")


def test_auto_spins_on_an_idle_machine_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto: spin while other processes keep under half a core busy, passive otherwise or when unknown."""
    for others, chosen in ((0.0, "spin"), (0.4, "spin"), (0.6, "passive"), (1.5, "passive"), (None, "passive")):
        monkeypatch.setattr(_openmp, "busy_elsewhere", lambda window=0.25, o=others: o)
        assert _openmp.resolve(" AUTO ") == chosen, others
        assert _openmp.environment("auto") == _openmp.environment(chosen)
    assert _openmp.resolve("100000") == "100000"


def test_busy_elsewhere_sees_a_cpu_bound_neighbour() -> None:
    """The real /proc/stat: a process spinning on a core shows as (about) one core busy elsewhere."""
    from toolproxy.backends import _cpu

    spin = "import time\nend = time.time() + 5\nwhile time.time() < end: pass"
    neighbour = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.3)
        others = _cpu.busy_elsewhere(0.5)
    finally:
        neighbour.kill()
        neighbour.wait()
    assert others is not None and others >= 0.7, others


def test_settings_validate_it() -> None:
    assert Settings(cpu_wait=" 20000 ").cpu_wait == "20000"
    assert Settings().cpu_wait is None and Settings().adaptive_threads is False
    with pytest.raises(ValueError, match="cpu_wait"):
        Settings(cpu_wait="fast")


def _env_after_import(env: dict[str, str], code: str = "") -> str:
    """OMP_WAIT_POLICY/GOMP_SPINCOUNT as a fresh interpreter sees them after importing the llama library."""
    script = (f"{code}\nimport os\nimport toolproxy.backends._llama_lib\n"
              "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))")
    ours = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "TOOLPROXY_CPU_WAIT")
    clean = {k: v for k, v in os.environ.items() if k not in ours}
    out = subprocess.run([sys.executable, "-c", script], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_applied_before_llama_cpp_loads() -> None:
    assert _env_after_import({}) in ("PASSIVE None", "None None")  # auto: passive or spin, by the load now
    assert _env_after_import({"TOOLPROXY_CPU_WAIT": "50000"}) == "None 50000"
    assert _env_after_import({"TOOLPROXY_CPU_WAIT": "active", "OMP_WAIT_POLICY": "PASSIVE"}) == "PASSIVE None"
    # the server's factory configures first; the library import then keeps that choice
    code = "from toolproxy.backends import _openmp\n_openmp.configure('spin')"
    assert _env_after_import({}, code) == "None None"
    # too late: llama_cpp is loaded already, nothing changes
    code = "import llama_cpp\nfrom toolproxy.backends import _openmp\nassert not _openmp.configure('active')"
    assert _env_after_import({}, code) == "None None"


def test_thread_governor_uses_the_cores_others_leave(monkeypatch: pytest.MonkeyPatch) -> None:
    """Machine busy time minus our own CPU time = the cores other processes use; we take the rest."""
    from toolproxy.backends import _cpu

    clock = {"wall": 100.0, "busy": 0.0, "ours": 0.0}
    monkeypatch.setattr(_cpu.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(_cpu.time, "process_time", lambda: clock["ours"])
    monkeypatch.setattr(_cpu, "_busy_seconds", lambda cores: clock["busy"])
    governor = _cpu.ThreadGovernor(2, interval=0.5)
    governor._cores = frozenset({0, 1})

    def tick(others: float, ours: float, wall: float = 1.0) -> int:
        clock["wall"] += wall
        clock["busy"] += (others + ours) * wall
        clock["ours"] += ours * wall
        return governor.update()

    assert governor.update() == 2  # first sample: the configured count
    assert tick(others=0.1, ours=2.0) == 2  # idle machine (our own spinning does not count)
    assert tick(others=1.0, ours=1.0) == 1  # a CPU-bound neighbour on one of the two cores
    clock["wall"] += 0.1
    assert governor.update() == 1  # not re-measured within the interval
    assert tick(others=0.2, ours=1.0) == 2  # the neighbour is gone
    assert tick(others=0.4, ours=1.0) == 1  # a core that is 40% busy elsewhere is not free
    assert tick(others=2.0, ours=0.5) == 1  # never fewer than one


def test_thread_governor_on_the_real_machine() -> None:
    from toolproxy.backends._cpu import ThreadGovernor, _busy_seconds

    governor = ThreadGovernor(4, interval=0.0)
    assert _busy_seconds(governor._cores) is not None  # Linux: /proc/stat is there
    assert 1 <= governor.update() <= 4
    assert 1 <= governor.update() <= 4


@pytest.mark.slow
def test_the_server_spins_only_with_adaptive_threads(model_path: str) -> None:
    """``toolproxy serve``'s backend factory: cpu_wait spin with adaptive threads, auto without (the default:
    spin or passive by the machine's load)."""
    code = ("from toolproxy.settings import Settings\nfrom toolproxy.backends.factory import backend_from_settings\n"
            "import asyncio, sys\n"
            f"b = backend_from_settings(Settings(model={model_path!r}, ctx=256, adaptive_threads=sys.argv[1] == '1'))\n"
            "print(b._rt.governor is not None)\nasyncio.run(b.aclose())")
    for adaptive, expected in (("1", ["True\nNone None"]), ("0", ["False\nPASSIVE None", "False\nNone None"])):
        script = f"{code}\nimport os\nprint(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))"
        ours = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "TOOLPROXY_CPU_WAIT")
        env = {k: v for k, v in os.environ.items() if k not in ours}
        out = subprocess.run([sys.executable, "-c", script, adaptive], env=env, capture_output=True, text=True,
                             check=True)
        assert out.stdout.strip() in expected

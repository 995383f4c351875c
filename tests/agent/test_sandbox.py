"""Escape attempts against the sandboxed interpreter: each must be contained and come back as an error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from toolproxy.agent.errors import SandboxUnavailable
from toolproxy.agent.sandbox import (
    BwrapBackend,
    DockerBackend,
    Limits,
    SandboxBackend,
    SessionManager,
    UnsafeBackend,
    UnshareBackend,
    select_backend,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMITS = Limits(timeout_s=10.0, memory_bytes=1024**3, max_processes=64, output_bytes=16384)


def available(backend: SandboxBackend) -> SandboxBackend:
    reason = backend.unavailable_reason()
    if reason is not None:
        pytest.skip(f"{backend.name}: {reason}")
    return backend


@pytest.fixture(scope="module", params=["bwrap", "unshare"])
def manager(request: pytest.FixtureRequest) -> Iterator[SessionManager]:
    backend = available(BwrapBackend() if request.param == "bwrap" else UnshareBackend())
    with SessionManager(backend, LIMITS) as mgr:
        yield mgr


def fresh_id() -> str:
    return uuid.uuid4().hex[:10]


def host_processes_with(needle: bytes) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if needle in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                continue
    return found


def test_state_persists_in_a_session_and_not_across(manager: SessionManager) -> None:
    one, two = fresh_id(), fresh_id()
    assert manager.run(one, "import math\nx = 41").ok
    obs = manager.run(one, "x + 1, math.pi > 3")
    assert obs.ok and obs.value == "(42, True)"
    other = manager.run(two, "x")
    assert not other.ok and "NameError" in (other.error or "")
    assert manager.close(one) and manager.close(two)


def test_errors_are_the_observation(manager: SessionManager) -> None:
    sid = fresh_id()
    obs = manager.run(sid, "def f(n):\n    return 10 / n\nprint('before')\nf(0)")
    assert not obs.ok
    assert obs.output.strip() == "before"
    assert "ZeroDivisionError" in (obs.error or "") and "return 10 / n" in (obs.error or "")
    assert "runner.py" not in (obs.error or "")
    assert "Error: Traceback" in obs.text()
    assert manager.run(sid, "print('still alive')").output.strip() == "still alive"
    manager.close(sid)


def test_no_connection_to_host_loopback(manager: SessionManager) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\ns.sendall(b'hi')"
    obs = manager.run(fresh_id(), code)
    listener.setblocking(False)
    with pytest.raises(BlockingIOError):  # nothing reached the host's listener, not even its backlog
        listener.accept()
    listener.close()
    assert not obs.ok
    assert "ConnectionRefusedError" in (obs.error or "") or "Network is unreachable" in (obs.error or "")


def test_no_route_to_the_outside(manager: SessionManager) -> None:
    started = time.monotonic()
    obs = manager.run(fresh_id(), "import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)")
    assert not obs.ok and "Network is unreachable" in (obs.error or "")
    assert time.monotonic() - started < 2.0  # refused at once: there is no interface, nothing left the box
    dns = manager.run(fresh_id(), "import socket\nsocket.getaddrinfo('example.com', 80)")
    assert not dns.ok and "gaierror" in (dns.error or "")


def test_home_is_not_visible(manager: SessionManager) -> None:
    secret = uuid.uuid4().hex
    marker = Path.home() / f".toolproxy-sandbox-marker-{secret[:8]}"
    marker.write_text(secret)
    try:
        obs = manager.run(fresh_id(), f"print(open({str(marker)!r}).read())")
        listing = manager.run(fresh_id(), f"import os\nos.listdir({str(Path.home())!r})")
    finally:
        marker.unlink()
    assert not obs.ok and secret not in obs.text()
    assert ("FileNotFoundError" in (obs.error or "")) or ("PermissionError" in (obs.error or ""))
    assert marker.name not in listing.text()


def test_writes_stay_in_the_work_dir(manager: SessionManager, tmp_path: Path) -> None:
    sid = fresh_id()
    name = f"escape-{uuid.uuid4().hex[:8]}"
    targets = [REPO_ROOT / name, Path(sys.prefix) / name, Path("/etc") / name, Path("/") / name, tmp_path / name]
    for target in targets:
        obs = manager.run(sid, f"open({str(target)!r}, 'w').write('x')")
        assert not obs.ok, target
        assert not target.exists(), target
    assert manager.run(sid, "open('/tmp/scratch', 'w').write('private')").ok
    assert manager.run(sid, "open('result.txt', 'w').write('kept')").ok
    assert (manager.session(sid).workdir / "result.txt").read_text() == "kept"
    manager.close(sid)


def test_fork_bomb_is_contained(manager: SessionManager) -> None:
    sid = fresh_id()
    started = time.monotonic()
    obs = manager.run(sid, "import os\nwhile True:\n    os.fork()")
    assert time.monotonic() - started < 8.0
    assert not obs.ok and "BlockingIOError" in (obs.error or "")
    after = manager.run(sid, "import os\nsum(p.isdigit() for p in os.listdir('/proc'))")
    assert after.ok and int(after.value or "999") <= LIMITS.max_processes
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still fork
    manager.close(sid)


def test_ten_gigabytes_is_refused(manager: SessionManager) -> None:
    sid = fresh_id()
    obs = manager.run(sid, "block = bytearray(10 * 1024**3)")
    assert not obs.ok and "MemoryError" in (obs.error or "")
    assert manager.run(sid, "'alive'").value == "'alive'"
    manager.close(sid)


def test_infinite_loop_kills_the_whole_tree(manager: SessionManager) -> None:
    sid = fresh_id()
    needle = f"{time.time_ns() % 10**6}.{os.getpid()}"
    manager.run(sid, "state = 1")
    started = time.monotonic()
    code = f"import subprocess\nchild = subprocess.Popen(['sleep', '{needle}'])\nwhile True:\n    pass"
    obs = manager.run(sid, code, timeout_s=1.5)
    assert 1.4 < time.monotonic() - started < 6.0
    assert not obs.ok and "timeout" in (obs.error or "") and "lost" in (obs.error or "")
    deadline = time.monotonic() + 3
    while host_processes_with(needle.encode()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_processes_with(needle.encode()) == []
    again = manager.run(sid, "state")
    assert again.restarted and not again.ok and "NameError" in (again.error or "")
    assert again.text().startswith("[note: a fresh interpreter")
    manager.close(sid)


def test_cpu_limit_kills_and_restarts(manager: SessionManager) -> None:
    limited = SessionManager(manager.backend, Limits(timeout_s=20.0, cpu_seconds_call=1))
    with limited:
        obs = limited.run("cpu", "x = 0\nwhile True:\n    x += 1")
        assert not obs.ok and "SIGXCPU" in (obs.error or "") and "lost" in (obs.error or "")
        assert limited.run("cpu", "1 + 1").value == "2"


def test_hundred_megabytes_of_output_is_capped(manager: SessionManager) -> None:
    sid = fresh_id()
    started = time.monotonic()
    obs = manager.run(sid, "print('x' * 100_000_000)")
    assert obs.ok and len(obs.output) <= LIMITS.output_bytes
    assert obs.truncated >= 100_000_000 - LIMITS.output_bytes
    raw = manager.run(sid, "import os\nfor _ in range(100):\n    os.write(1, b'y' * 1_000_000)")
    assert raw.ok and len(raw.output) <= LIMITS.output_bytes and raw.truncated > 99_000_000 - LIMITS.output_bytes
    assert time.monotonic() - started < 15.0
    assert "[output truncated" in obs.text()
    manager.close(sid)


def test_idle_sessions_are_reaped(manager: SessionManager) -> None:
    with SessionManager(manager.backend, LIMITS, idle_timeout_s=0.3) as short:
        short.start_reaper(interval_s=0.05)
        assert short.run("idle", "1").ok
        session = short.session("idle")
        proc, workdir = session.proc, session.workdir
        assert proc is not None and workdir.is_dir()
        deadline = time.monotonic() + 5
        while short.session_ids and time.monotonic() < deadline:
            time.sleep(0.05)
        assert short.session_ids == []
        assert proc.poll() is not None and not workdir.exists()


def test_refuses_to_run_unsandboxed(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SandboxUnavailable):
        select_backend("none")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxUnavailable) as info:
        select_backend("auto")
    assert "--unsafe-no-sandbox" in info.value.message
    assert isinstance(select_backend("auto", unsafe_no_sandbox=True), UnsafeBackend)


def test_docker_route_refuses_cleanly_without_an_engine() -> None:
    backend = DockerBackend()
    reason = backend.unavailable_reason()
    if reason is None:
        pytest.skip("a Docker engine with the sandbox image is available here")
    with pytest.raises(SandboxUnavailable) as info:
        select_backend("docker")
    assert "docker" in info.value.message
    argv = backend.command(LIMITS, backend.identity(), Path("/tmp/w"), "abc")
    assert {"--network", "none", "--read-only", "--pids-limit"} <= set(argv)


def test_session_memory_cap_spans_processes(manager: SessionManager) -> None:
    """Where a cgroup can be made, the session's processes share one memory cap (RLIMIT_AS is per process)."""
    limits = Limits(timeout_s=20.0, session_memory_bytes=512 * 1024**2)
    with SessionManager(manager.backend, limits) as capped:
        assert capped.run("mem", "1").ok
        session = capped.session("mem")
        if session.cgroup is None:
            pytest.skip("no cgroup can be created for sessions on this machine")
        dirs = list(session.cgroup.dirs)
        code = (
            "import subprocess, sys\n"
            "hog = 'b = b\"x\" * (300 * 1024**2)\\nimport time\\ntime.sleep(1)'\n"
            "procs = [subprocess.Popen([sys.executable, '-c', hog]) for _ in range(3)]\n"
            "[p.wait() for p in procs]"
        )
        obs = capped.run("mem", code)
        codes = [int(c) for c in (obs.value or "").strip("[]").split(",") if c.strip()] if obs.ok else []
        # either some hogs were OOM-killed (-9) or the interpreter itself was, and said so
        assert (-9 in codes) or (not obs.ok and "memory limit" in (obs.error or ""))
    assert not any(path.exists() for path in dirs)

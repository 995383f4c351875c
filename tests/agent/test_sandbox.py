"""Escape attempts against the sandboxed interpreter: each must be contained and come back as an error."""

from __future__ import annotations

import json
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
from toolproxy.agent.sandbox.cgroups import SessionCgroup
from toolproxy.agent.sandbox.limits import Identity

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMITS = Limits(timeout_s=10.0, memory_bytes=1024**3, max_processes=64, output_bytes=16384)


def available(backend: SandboxBackend) -> SandboxBackend:
    reason = backend.unavailable_reason()
    if reason is not None:
        pytest.skip(f"{backend.name}: {reason}")
    return backend


def cgroups_work() -> bool:
    group = SessionCgroup.create(f"toolproxy-test-{uuid.uuid4().hex[:8]}", max_processes=8, memory_bytes=1 << 30)
    if group is None:
        return False
    group.remove()
    return True


@pytest.fixture(scope="module", params=["bwrap", "unshare", "unshare-userns"])
def manager(request: pytest.FixtureRequest) -> Iterator[SessionManager]:
    """Each isolation route. ``unshare-userns`` is the unprivileged user's route (root inside a user namespace,
    capabilities stripped); run by root it maps to uid 0, which ignores RLIMIT_NPROC, so it is only tested
    here when a pids cgroup can cap the session instead."""
    backend: SandboxBackend
    if request.param == "bwrap":
        backend = BwrapBackend()
    elif request.param == "unshare":
        backend = UnshareBackend()  # a user namespace unless root
    else:
        if os.geteuid() != 0:
            pytest.skip("not root: the plain `unshare` case already is the user-namespace route")
        if not cgroups_work():
            pytest.skip("as root, the user-namespace route needs a pids cgroup to contain fork bombs")
        backend = UnshareBackend(user_namespace=True)
    with SessionManager(available(backend), LIMITS) as mgr:
        yield mgr


@pytest.fixture(scope="module")
def backend() -> SandboxBackend:
    """The machine's default route, for the checks that do not depend on the isolation mechanism."""
    try:
        return select_backend("auto")
    except SandboxUnavailable as exc:
        pytest.skip(exc.message)


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


def test_no_capabilities_inside(manager: SessionManager) -> None:
    sid = fresh_id()
    caps = manager.run(sid, "[l.split()[1] for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm'))]")
    assert caps.value == "['0000000000000000', '0000000000000000']"
    assert not manager.run(sid, "import os\nos.chroot('/')").ok
    manager.close(sid)


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
        # inside the sandbox /tmp is a private writable tmpfs: a path under the host's /tmp (a checkout or pytest's
        # tmp_path there) may be written *inside* it; what matters is that nothing reaches the host
        assert not obs.ok or target.is_relative_to("/tmp"), target
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


def test_cpu_limit_kills_and_restarts(backend: SandboxBackend) -> None:
    limited = SessionManager(backend, Limits(timeout_s=20.0, cpu_seconds_call=1))
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


def test_idle_sessions_are_reaped(backend: SandboxBackend) -> None:
    with SessionManager(backend, LIMITS, idle_timeout_s=0.3) as short:
        short.start_reaper(interval_s=0.05)
        assert short.run("idle", "1").ok
        session = short.session("idle")
        proc, workdir = session.proc, session.workdir
        assert proc is not None and workdir.is_dir()
        deadline = time.monotonic() + 5
        while (short.session_ids or workdir.exists()) and time.monotonic() < deadline:
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


def test_session_memory_cap_spans_processes(backend: SandboxBackend) -> None:
    """Where a cgroup can be made, the session's processes share one memory cap (RLIMIT_AS is per process)."""
    limits = Limits(timeout_s=20.0, session_memory_bytes=256 * 1024**2)
    with SessionManager(backend, limits) as capped:
        assert capped.run("mem", "1").ok
        session = capped.session("mem")
        if session.cgroup is None:
            pytest.skip("no cgroup can be created for sessions on this machine")
        dirs = list(session.cgroup.dirs)
        code = (
            "import subprocess, sys\n"
            "hog = 'b = b\"x\" * (150 * 1024**2)\\nimport time\\ntime.sleep(1)'\n"
            "procs = [subprocess.Popen([sys.executable, '-c', hog]) for _ in range(3)]\n"
            "[p.wait() for p in procs]"
        )
        obs = capped.run("mem", code)
        codes = [int(c) for c in (obs.value or "").strip("[]").split(",") if c.strip()] if obs.ok else []
        # either some hogs were OOM-killed (-9) or the interpreter itself was, and said so
        assert (-9 in codes) or (not obs.ok and "memory limit" in (obs.error or ""))
    assert not any(path.exists() for path in dirs)


class BrokenBackend(UnsafeBackend):
    """Fault injection: a sandbox that dies before its runner says it is ready."""

    def command(self, limits: Limits, identity: Identity, workdir: Path, session_id: str) -> list[str]:
        return [sys.executable, "-c", "import sys; sys.stderr.write('bwrap: setting up uid map: boom'); sys.exit(3)"]


def test_a_sandbox_that_cannot_start_is_an_error_observation() -> None:
    with SessionManager(BrokenBackend(), Limits(use_cgroup=False)) as broken:
        obs = broken.run("x", "1")
    assert not obs.ok and "could not start" in (obs.error or "") and "boom" in (obs.error or "")


UNPRIVILEGED_CHECK = """
import json, sys
from toolproxy.agent.sandbox import BwrapBackend, UnshareBackend, SessionManager, Limits
results = {}
for backend in (BwrapBackend(), UnshareBackend()):
    if backend.unavailable_reason() is not None:
        continue
    with SessionManager(backend, Limits(timeout_s=10, max_processes=32, use_cgroup=False)) as m:
        bomb = m.run("s", "import os\\nwhile True:\\n    os.fork()")
        count = m.run("s", "import os\\nsum(p.isdigit() for p in os.listdir('/proc'))")
        net = m.run("s", "import socket\\nsocket.create_connection(('1.1.1.1', 80), timeout=2)")
        caps = m.run("s", "[l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')]")
        results[backend.name] = [bomb.error, count.value, net.error, caps.value]
print(json.dumps(results))
"""


def test_the_unprivileged_route() -> None:
    """What most users run: toolproxy as a normal user (user namespaces, no cgroup). Checked here by running
    the sandbox code as uid 65534 with the system Python (only the stdlib is needed for the sandbox)."""
    system_python = Path("/usr/bin/python3")
    if os.geteuid() != 0 or not system_python.exists() or subprocess.run(["which", "setpriv"]).returncode:
        pytest.skip("needs root (to become another user), setpriv and /usr/bin/python3")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "HOME": "/nonexistent", "TMPDIR": "/tmp"}
    become = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    argv = [*become, str(system_python), "-c", UNPRIVILEGED_CHECK]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0 and ("ModuleNotFoundError" in done.stderr or "PermissionError" in done.stderr):
        pytest.skip(f"the system Python cannot import the sandbox package: {done.stderr[-300:]}")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results, "neither bwrap nor unshare works unprivileged here"
    for name, (bomb, count, net, caps) in results.items():
        assert "BlockingIOError" in bomb, name
        assert int(count) <= 32, name
        assert "Network is unreachable" in net, name
        assert caps == "['0000000000000000']", name

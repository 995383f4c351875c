"""Isolation backends: each turns (limits, identity, work dir) into the argv that starts the runner.

- ``bwrap``: bubblewrap. New pid/net/ipc/uts (and, unprivileged, user) namespaces; an empty root with the
  system directories and the Python installation bound read-only, a private /tmp, the session's work dir
  bound read-write at /sandbox, nothing else (no home). Dies with its parent.
- ``unshare``: the same view built without bubblewrap, from util-linux ``unshare`` plus ``nsinit.py``
  (mounts, chroot, capability drop) — for machines with namespaces but no bwrap.
- ``docker``: a throw-away container of the sandbox image (``docker/sandbox.Dockerfile``), no network,
  read-only root, memory/pids limits.
- ``none``: no isolation at all (limits only). Only with an explicit ``--unsafe-no-sandbox``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from abc import ABC, abstractmethod
from pathlib import Path

from toolproxy.agent.errors import SandboxUnavailable
from toolproxy.agent.sandbox.limits import Identity, Limits, runner_config

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "runner.py"
NSINIT = HERE / "nsinit.py"
INSIDE_DIR = "/opt/toolproxy-sandbox"
INSIDE_WORK = "/sandbox"
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
DOCKER_IMAGE = "toolproxy-sandbox:latest"


def python_dirs() -> list[str]:
    """Directories holding the running Python (venv and base installation), outermost first, deduplicated."""
    found: list[str] = []
    for raw in (sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix):
        path = os.path.realpath(raw)
        if path not in found:
            found.append(path)
    # a venv's own prefix path may be a symlink; bind its spelled path too, so sys.executable resolves
    for raw in (sys.prefix, sys.exec_prefix):
        if os.path.abspath(raw) not in found:
            found.append(os.path.abspath(raw))
    covered = [d for d in SYSTEM_DIRS if os.path.isdir(d) and not os.path.islink(d)]
    return [p for p in found if not any(p == c or p.startswith(c + "/") for c in covered)]


def system_entries() -> list[tuple[str, str | None]]:
    """(path, symlink target or None) for each system directory present on this machine."""
    entries: list[tuple[str, str | None]] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            entries.append((path, os.readlink(path)))
        elif os.path.isdir(path):
            entries.append((path, None))
    return entries


def ancestors(paths: list[str]) -> list[str]:
    """Parent directories to create (world-traversable) before binding ``paths`` into an empty root."""
    found: list[str] = []
    for path in paths:
        parts = Path(path).parts[1:-1]
        for depth in range(1, len(parts) + 1):
            parent = "/" + "/".join(parts[:depth])
            if parent not in found:
                found.append(parent)
    return found


def sandbox_env() -> dict[str, str]:
    return {
        "HOME": INSIDE_WORK,
        "PATH": f"{os.path.dirname(sys.executable)}:{SAFE_PATH}",
        "LANG": "C.UTF-8",
        "TMPDIR": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }


class SandboxBackend(ABC):
    name: str = ""
    isolated: bool = True
    cgroups: bool = True
    """Whether sessions may also be put in a cgroup of their own (Docker has its own limits)."""

    @abstractmethod
    def unavailable_reason(self) -> str | None:
        """None if this backend works here, else why not."""

    @abstractmethod
    def command(self, limits: Limits, identity: Identity, workdir: Path, session_id: str) -> list[str]:
        """argv that starts the runner for one session."""

    def identity(self) -> Identity:
        return Identity.for_new_session()

    def cleanup(self, session_id: str) -> None:  # noqa: B027 - optional hook, most backends need nothing
        """Extra teardown after the session's process group was killed (containers live elsewhere)."""


class BwrapBackend(SandboxBackend):
    name = "bwrap"

    def __init__(self, executable: str | None = None) -> None:
        self.executable = executable or shutil.which("bwrap") or "bwrap"

    def base_args(self, workdir: Path) -> list[str]:
        args = [self.executable, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net"]
        args += ["--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
        if os.geteuid() != 0:
            args.append("--unshare-user")
        for path, target in system_entries():
            args += ["--symlink", target, path] if target is not None else ["--ro-bind", path, path]
        # the private /tmp first: a Python installation that lives under /tmp (a venv in a temp checkout) is then
        # bound on top of it instead of being hidden by it
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
        for parent in ancestors(python_dirs()):
            args += ["--perms", "0755", "--dir", parent]
        for path in python_dirs():
            args += ["--ro-bind", path, path]
        args += ["--bind", str(workdir), INSIDE_WORK, "--chdir", INSIDE_WORK, "--clearenv"]
        for key, value in sandbox_env().items():
            args += ["--setenv", key, value]
        return args

    def unavailable_reason(self) -> str | None:
        if shutil.which(self.executable) is None:
            return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
        probe = [*self.base_args(Path("/tmp")), "--", sys.executable, "-I", "-c", "pass"]
        try:
            done = subprocess.run(probe, capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap failed to start: {exc}"
        if done.returncode != 0:
            return f"bwrap cannot create its namespaces here: {done.stderr.decode(errors='replace').strip()}"
        return None

    def command(self, limits: Limits, identity: Identity, workdir: Path, session_id: str) -> list[str]:
        cfg = runner_config(limits, identity, INSIDE_WORK, own_pid_namespace=True)
        runner = f"{INSIDE_DIR}/runner.py"
        return [*self.base_args(workdir), "--ro-bind", str(RUNNER), runner, "--",
                sys.executable, "-I", runner, json.dumps(cfg)]


class UnshareBackend(SandboxBackend):
    """Namespaces via util-linux ``unshare``; ``nsinit.py`` builds the read-only root and drops privileges."""

    name = "unshare"

    def __init__(self, executable: str | None = None, *, user_namespace: bool | None = None) -> None:
        self.executable = executable or shutil.which("unshare") or "unshare"
        self.user_namespace = os.geteuid() != 0 if user_namespace is None else user_namespace
        """Unprivileged: a user namespace (root inside, mapped to the caller). Root: none, drop to a uid."""

    def identity(self) -> Identity:
        return Identity(None, None) if self.user_namespace else Identity.for_new_session()

    def prefix(self) -> list[str]:
        args = [self.executable, "--fork", "--kill-child", "--pid", "--net", "--mount", "--ipc", "--uts"]
        if self.user_namespace:
            args += ["--user", "--map-root-user"]
        return args

    def plan(self, workdir: Path, identity: Identity, limits: Limits) -> dict[str, object]:
        return {
            "system": system_entries(),
            "python": python_dirs(),
            "workdir": str(workdir),
            "inside_work": INSIDE_WORK,
            "runner": str(RUNNER),
            "inside_runner": f"{INSIDE_DIR}/runner.py",
            "python_exe": sys.executable,
            "env": sandbox_env(),
            "runner_config": runner_config(limits, identity, INSIDE_WORK, own_pid_namespace=True),
        }

    def unavailable_reason(self) -> str | None:
        if shutil.which(self.executable) is None:
            return "util-linux unshare is not installed"
        plan = self.plan(Path("/tmp"), Identity(None, None), Limits())
        probe = [*self.prefix(), sys.executable, "-I", str(NSINIT), json.dumps(plan), "--probe"]
        try:
            done = subprocess.run(probe, capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"unshare failed to start: {exc}"
        if done.returncode != 0:
            return f"cannot create namespaces with unshare: {done.stderr.decode(errors='replace').strip()}"
        return None

    def command(self, limits: Limits, identity: Identity, workdir: Path, session_id: str) -> list[str]:
        plan = self.plan(workdir, identity, limits)
        return [*self.prefix(), sys.executable, "-I", str(NSINIT), json.dumps(plan)]


class DockerBackend(SandboxBackend):
    """A container per session from the sandbox image; needs a running Docker engine."""

    name = "docker"
    cgroups = False

    def __init__(self, image: str = DOCKER_IMAGE, executable: str | None = None) -> None:
        self.image = image
        self.executable = executable or shutil.which("docker") or "docker"

    def identity(self) -> Identity:
        return Identity(None, None)  # the image runs as an unprivileged user already

    def unavailable_reason(self) -> str | None:
        if shutil.which(self.executable) is None:
            return "docker is not installed"
        try:
            engine = subprocess.run([self.executable, "version", "--format", "{{.Server.Version}}"],
                                    capture_output=True, timeout=15, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"docker is not usable: {exc}"
        if engine.returncode != 0:
            return "no Docker engine is reachable (the docker client is installed, the daemon is not running)"
        image = subprocess.run([self.executable, "image", "inspect", self.image],
                               capture_output=True, timeout=15, check=False)
        if image.returncode != 0:
            return f"image {self.image} not found: docker build -f docker/sandbox.Dockerfile -t {self.image} ."
        return None

    def container_name(self, session_id: str) -> str:
        return session_id if session_id.startswith("toolproxy-sbx-") else f"toolproxy-sbx-{session_id}"

    def command(self, limits: Limits, identity: Identity, workdir: Path, session_id: str) -> list[str]:
        cfg = runner_config(limits, identity, INSIDE_WORK, own_pid_namespace=True)
        mem = str(limits.memory_bytes)
        return [
            self.executable, "run", "--rm", "-i", "--name", self.container_name(session_id),
            "--network", "none", "--read-only", "--tmpfs", "/tmp:rw,size=64m", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges", "--memory", mem, "--memory-swap", mem,
            "--pids-limit", str(limits.max_processes), "--cpus", "1", "--user", "65534:65534",
            "-v", f"{workdir}:{INSIDE_WORK}:rw", "-w", INSIDE_WORK, self.image,
            "python", "-I", f"{INSIDE_DIR}/runner.py", json.dumps(cfg),
        ]

    def cleanup(self, session_id: str) -> None:
        subprocess.run([self.executable, "rm", "-f", self.container_name(session_id)],
                       capture_output=True, timeout=30, check=False)


class UnsafeBackend(SandboxBackend):
    """No isolation: the runner as a plain child process with resource limits. Explicit opt-in only."""

    name = "none"
    isolated = False

    def unavailable_reason(self) -> str | None:
        return None

    def identity(self) -> Identity:
        return Identity(None, None)

    def command(self, limits: Limits, identity: Identity, workdir: Path, session_id: str) -> list[str]:
        cfg = runner_config(limits, identity, str(workdir), own_pid_namespace=False)
        return [sys.executable, "-I", str(RUNNER), json.dumps(cfg)]


BACKENDS: dict[str, type[SandboxBackend]] = {
    "bwrap": BwrapBackend,
    "unshare": UnshareBackend,
    "docker": DockerBackend,
    "none": UnsafeBackend,
}
AUTO_ORDER = ("bwrap", "unshare", "docker")


def select_backend(name: str = "auto", *, unsafe_no_sandbox: bool = False) -> SandboxBackend:
    """The backend to use; raises SandboxUnavailable (listing every reason) rather than run unisolated."""
    if name == "none" and not unsafe_no_sandbox:
        raise SandboxUnavailable("sandbox 'none' runs code unisolated: pass --unsafe-no-sandbox to allow it")
    if name != "auto":
        if name not in BACKENDS:
            raise SandboxUnavailable(f"unknown sandbox {name!r}; known: auto, {', '.join(BACKENDS)}")
        backend = BACKENDS[name]()
        reason = backend.unavailable_reason()
        if reason is not None:
            raise SandboxUnavailable(f"sandbox {name!r} is unavailable: {reason}")
        return backend
    reasons: list[str] = []
    for candidate in AUTO_ORDER:
        backend = BACKENDS[candidate]()
        reason = backend.unavailable_reason()
        if reason is None:
            return backend
        reasons.append(f"{candidate}: {reason}")
    if unsafe_no_sandbox:
        return UnsafeBackend()
    raise SandboxUnavailable(
        "no sandbox is available, so the python tool refuses to run code ("
        + "; ".join(reasons)
        + "). Install bubblewrap, or pass --unsafe-no-sandbox to run code without isolation."
    )

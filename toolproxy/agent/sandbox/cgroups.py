"""Optional per-session cgroup (v1 pids+memory, or v2): a hard cap on the session's total memory and process
count, and a reliable way to kill everything in it. Used when this process may create cgroups (typically as
root or under a delegated systemd scope); otherwise the rlimits + namespaces alone apply.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

ENTER_SCRIPT = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs" || exit 97; shift; n=$((n-1)); done; '
    'exec "$@"'
)


def v1_mounts() -> dict[str, Path]:
    """controller -> mount point of the cgroup v1 hierarchies that carry pids or memory."""
    found: dict[str, Path] = {}
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as handle:
        for line in handle:
            left, _, right = line.partition(" - ")
            fields, extra = left.split(), right.split()
            if len(extra) >= 3 and extra[0] == "cgroup":
                for controller in ("pids", "memory"):
                    if controller in extra[2].split(","):
                        found[controller] = Path(fields[4])
    return found


def own_cgroups() -> dict[str, str]:
    """controller ('' for v2) -> this process's cgroup path."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError), open("/proc/self/cgroup") as handle:
        for line in handle:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                found[controller] = path
    return found


def write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
    except OSError:
        return False
    return True


@dataclass
class SessionCgroup:
    dirs: list[Path]

    @classmethod
    def create(cls, name: str, *, max_processes: int, memory_bytes: int) -> SessionCgroup | None:
        """A fresh cgroup for one session, or None where cgroups cannot be created or limited here."""
        own = own_cgroups()
        mounts = v1_mounts()
        if "pids" in mounts and "memory" in mounts:
            dirs: list[Path] = []
            for controller, limit_file, value in (("pids", "pids.max", max_processes),
                                                  ("memory", "memory.limit_in_bytes", memory_bytes)):
                target = mounts[controller] / own.get(controller, "/").lstrip("/") / name
                try:
                    target.mkdir()
                except OSError:
                    cls(dirs).remove()
                    return None
                dirs.append(target)
                if not write(target / limit_file, str(value)):
                    cls(dirs).remove()
                    return None
            write(dirs[1] / "memory.memsw.limit_in_bytes", str(memory_bytes))  # no swap either, where known
            write(dirs[1] / "memory.swappiness", "0")
            return cls(dirs)
        if "" in own and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            target = Path("/sys/fs/cgroup") / own[""].lstrip("/") / name
            try:
                target.mkdir()
            except OSError:
                return None
            group = cls([target])
            ok = write(target / "pids.max", str(max_processes)) and write(target / "memory.max", str(memory_bytes))
            if not ok:
                group.remove()
                return None
            write(target / "memory.swap.max", "0")
            return group
        return None

    def wrap(self, argv: list[str]) -> list[str]:
        """argv that first moves itself into the cgroup(s), then execs ``argv``."""
        return ["/bin/sh", "-c", ENTER_SCRIPT, "sh", str(len(self.dirs)), *map(str, self.dirs), *argv]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for path in self.dirs:
            with contextlib.suppress(OSError, ValueError):
                found |= {int(p) for p in (path / "cgroup.procs").read_text().split()}
        return found

    def oom_killed(self) -> bool:
        """Whether the kernel OOM-killed a process of this cgroup (v1 memory.oom_control, v2 memory.events)."""
        for path in self.dirs:
            for name in ("memory.oom_control", "memory.events"):
                with contextlib.suppress(OSError):
                    for line in (path / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and value.strip().isdigit() and int(value) > 0:
                            return True
        return False

    def remove(self) -> None:
        """Kill whatever is still inside, then delete the cgroup directories."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            remaining = self.pids()
            if not remaining:
                break
            for pid in remaining:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        for path in self.dirs:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)

"""Resource limits of a sandboxed interpreter session, and the config handed to the in-sandbox runner."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Any

GIB = 1024**3
MIB = 1024**2

# Per-session uids used when toolproxy runs as root: processes of real uid 0 ignore RLIMIT_NPROC, so the
# interpreter drops to a uid of its own (unique per session, so one session's processes never count
# against another's limit).
SESSION_UID_BASE = 200_000
SESSION_UID_SPAN = 60_000


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 30.0
    """Wall-clock limit of one call; on expiry the whole process tree of the session is killed."""
    cpu_seconds_call: int = 30
    """CPU seconds one call may use (soft RLIMIT_CPU, re-armed before each call)."""
    cpu_seconds_session: int = 600
    """CPU seconds the interpreter may use over its life (hard RLIMIT_CPU)."""
    memory_bytes: int = 1 * GIB
    """Address space of each process (RLIMIT_AS)."""
    max_processes: int = 64
    """Processes/threads of the session (RLIMIT_NPROC in its own uid or user namespace)."""
    output_bytes: int = 64 * 1024
    """Output kept per call (stdout+stderr); the rest is counted and dropped."""
    max_file_bytes: int = 256 * MIB
    """Largest file a process may write (RLIMIT_FSIZE)."""
    max_open_files: int = 256
    session_memory_bytes: int = 2 * GIB
    """Memory of the whole session (all its processes), where a cgroup can be created for it."""
    use_cgroup: bool = True
    """Put each session in its own cgroup (pids + memory caps) when this process is allowed to."""
    startup_timeout_s: float = 20.0


@dataclass(frozen=True)
class Identity:
    """Who the interpreter runs as: ``uid``/``gid`` to drop to when started as real root, else None."""

    uid: int | None
    gid: int | None

    @classmethod
    def for_new_session(cls) -> Identity:
        if os.geteuid() != 0:
            return cls(None, None)
        uid = SESSION_UID_BASE + secrets.randbelow(SESSION_UID_SPAN)
        return cls(uid, uid)


def runner_config(limits: Limits, identity: Identity, workdir: str, *, own_pid_namespace: bool) -> dict[str, Any]:
    return {
        "own_pid_namespace": own_pid_namespace,
        "uid": identity.uid,
        "gid": identity.gid,
        "workdir": workdir,
        "memory_bytes": limits.memory_bytes,
        "max_processes": limits.max_processes,
        "cpu_seconds": limits.cpu_seconds_session,
        "max_file_bytes": limits.max_file_bytes,
        "max_open_files": limits.max_open_files,
        "output_bytes": limits.output_bytes,
    }

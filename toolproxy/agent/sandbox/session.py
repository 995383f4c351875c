"""One sandboxed interpreter session: a long-lived runner process, its work dir, and the framed pipe to it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolproxy.agent.errors import SandboxProtocolError
from toolproxy.agent.sandbox.backends import SandboxBackend
from toolproxy.agent.sandbox.cgroups import SessionCgroup
from toolproxy.agent.sandbox.limits import Identity, Limits

HEADER = struct.Struct(">I")
STATE_LOST = (
    "The interpreter was killed together with every process it started, and a fresh one will serve the "
    "next call: all variables and imports from earlier calls are lost (files in the work dir are kept)."
)
SIGNAL_MEANING = {
    signal.SIGXCPU: "CPU-time limit exceeded",
    signal.SIGXFSZ: "file-size limit exceeded",
    signal.SIGKILL: "killed (out of memory or a limit)",
    signal.SIGSEGV: "segmentation fault",
}


@dataclass(frozen=True)
class Observation:
    """The outcome of one call, as the model will read it."""

    ok: bool
    output: str = ""
    value: str | None = None
    error: str | None = None
    truncated: int = 0
    restarted: bool = False

    def text(self) -> str:
        parts: list[str] = []
        if self.restarted:
            parts.append("[note: a fresh interpreter runs this call; variables and imports from before are gone]")
        if self.output:
            parts.append(self.output.rstrip("\n"))
        if self.truncated:
            parts.append(f"[output truncated: {self.truncated} more characters were not kept]")
        if self.value is not None:
            parts.append(self.value)
        if self.error is not None:
            parts.append(f"Error: {self.error.rstrip()}")
        return "\n".join(parts) if parts else "(no output)"


def exit_reason(returncode: int | None) -> str:
    if returncode is None:
        return "the interpreter stopped answering"
    signum = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    if signum:
        with contextlib.suppress(ValueError):
            name = signal.Signals(signum).name
            return f"the interpreter died from {name} ({SIGNAL_MEANING.get(signal.Signals(signum), 'a signal')})"
    return f"the interpreter exited with status {returncode}"


class SandboxSession:
    """Not thread-safe by itself: the manager serialises calls per session with ``lock``."""

    def __init__(self, backend: SandboxBackend, limits: Limits, session_id: str) -> None:
        self.backend = backend
        self.limits = limits
        self.session_id = session_id
        self.lock = threading.Lock()
        self.last_used = time.monotonic()
        self.identity: Identity = backend.identity()
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", session_id)[:40]
        self.workdir = Path(tempfile.mkdtemp(prefix=f"toolproxy-sbx-{safe}-"))
        self.slug = self.workdir.name  # unique on this machine: names the cgroup / container too
        if self.identity.uid is not None:
            os.chown(self.workdir, self.identity.uid, self.identity.gid if self.identity.gid is not None else -1)
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self._stderr = bytearray()
        self.starts = 0
        self.cgroup: SessionCgroup | None = None

    # -- process lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        argv = self.backend.command(self.limits, self.identity, self.workdir, self.slug)
        if self.backend.cgroups and self.limits.use_cgroup:
            self.cgroup = SessionCgroup.create(f"{self.slug}-{self.starts}",
                                               max_processes=self.limits.max_processes + 4,
                                               memory_bytes=self.limits.session_memory_bytes)
            if self.cgroup is not None:
                argv = self.cgroup.wrap(argv)
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, bufsize=0, close_fds=True,
        )
        self._stderr = bytearray()
        drainer = threading.Thread(target=self._drain_stderr, args=(self.proc,), daemon=True)
        drainer.start()
        try:
            ready = self._read_frame(time.monotonic() + self.limits.startup_timeout_s)
        except (TimeoutError, SandboxProtocolError):
            ready = None
        if ready is None or not ready.get("ready"):
            reason = exit_reason(self.proc.poll())
            self.kill()
            drainer.join(timeout=2)
            detail = self._stderr.decode("utf-8", "replace").strip()[-2000:]
            raise SandboxProtocolError(f"sandbox failed to start ({reason}): {detail}")
        self.info = ready
        self.starts += 1

    def _drain_stderr(self, proc: subprocess.Popen[bytes]) -> None:
        stream = proc.stderr
        if stream is None:
            return
        while chunk := stream.read(4096):
            if len(self._stderr) < 16384:
                self._stderr += chunk

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """Kill the whole process tree: the process group, and the pid namespace dies with its init."""
        proc, self.proc = self.proc, None
        if proc is None:
            if self.cgroup is not None:
                self.cgroup.remove()
                self.cgroup = None
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        cgroup, self.cgroup = self.cgroup, None
        if cgroup is not None:
            cgroup.remove()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.backend.cleanup(self.slug)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- framed pipe ---------------------------------------------------------------------------------------
    def _read_exact(self, size: int, deadline: float) -> bytes | None:
        assert self.proc is not None and self.proc.stdout is not None  # internal invariant
        fd = self.proc.stdout.fileno()
        chunks: list[bytes] = []
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                raise TimeoutError
            chunk = os.read(fd, min(size, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _read_frame(self, deadline: float) -> dict[str, Any] | None:
        header = self._read_exact(HEADER.size, deadline)
        if header is None:
            return None
        (size,) = HEADER.unpack(header)
        if size > 8 * self.limits.output_bytes + 65536:
            raise SandboxProtocolError(f"the interpreter sent an oversized frame ({size} bytes)")
        body = self._read_exact(size, deadline)
        if body is None:
            return None
        try:
            frame = json.loads(body)
        except ValueError as exc:
            raise SandboxProtocolError("the interpreter sent a malformed frame") from exc
        if not isinstance(frame, dict):
            raise SandboxProtocolError("the interpreter sent a malformed frame")
        return frame

    def _send(self, payload: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None  # internal invariant
        data = json.dumps(payload).encode("utf-8")
        self.proc.stdin.write(HEADER.pack(len(data)) + data)
        self.proc.stdin.flush()

    # -- the one public operation --------------------------------------------------------------------------
    def run(self, code: str, timeout_s: float | None = None) -> Observation:
        """Run one cell in the persistent namespace; every failure mode becomes an error Observation."""
        self.last_used = time.monotonic()
        restarted = False
        if not self.alive:
            restarted = self.starts > 0
            self.kill()
            try:
                self.start()
            except (SandboxProtocolError, OSError) as exc:
                return Observation(ok=False, error=f"the sandbox could not start: {exc}")
        timeout = self.limits.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        try:
            self._send({"code": code, "cpu_seconds": self.limits.cpu_seconds_call})
            frame = self._read_frame(deadline)
        except TimeoutError:
            self.kill()
            return Observation(ok=False, error=f"wall-clock timeout: the call ran over {timeout:g} s. {STATE_LOST}",
                               restarted=restarted)
        except (SandboxProtocolError, BrokenPipeError, OSError) as exc:
            self.kill()
            return Observation(ok=False, error=f"{exc}. {STATE_LOST}", restarted=restarted)
        finally:
            self.last_used = time.monotonic()
        if frame is None:
            proc = self.proc
            returncode = proc.wait(timeout=10) if proc is not None else None
            reason = exit_reason(returncode)
            if self.cgroup is not None and self.cgroup.oom_killed():
                reason = f"the session ran over its memory limit ({self.limits.session_memory_bytes} bytes)"
            self.kill()
            return Observation(ok=False, error=f"{reason}. {STATE_LOST}", restarted=restarted)
        return Observation(
            ok=bool(frame.get("ok")),
            output=str(frame.get("output") or ""),
            value=frame.get("value") if isinstance(frame.get("value"), str) else None,
            error=frame.get("error") if isinstance(frame.get("error"), str) else None,
            truncated=int(frame.get("truncated") or 0),
            restarted=restarted,
        )

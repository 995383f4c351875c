"""The interpreter that runs *inside* the sandbox: a persistent CodeAct namespace behind a framed pipe.

Standard library only, and importable without toolproxy (it is bind-mounted alone into the sandbox, or copied
into the Docker sandbox image). Started as ``python runner.py CONFIG_JSON``; it then

1. drops privileges when started as real root (the bwrap-as-root route): ``setgroups([])``, ``setgid``,
   ``setuid`` to the per-session uid, which clears every capability;
2. sets its resource limits (address space, processes, CPU time, file size, open files, no core dumps) — the
   hard limits cannot be raised again by the code it runs;
3. moves the protocol pipes off fds 0/1 (stdin becomes /dev/null; fds 1/2 become a pipe drained into a capped
   buffer, so output of ``os.write`` and child processes is captured and capped too);
4. loops: read a request frame ``{"code": ...}``, exec it in one persistent namespace (a trailing expression is
   shown like a REPL would), answer ``{"ok", "output", "value", "error", "truncated"}``.

Frames are a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import io
import json
import linecache
import os
import resource
import signal
import struct
import sys
import termios
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

HEADER = struct.Struct(">I")
MAX_REQUEST = 16 * 1024 * 1024


@dataclass
class CappedBuffer:
    """Keeps the first ``cap`` bytes written to it and counts the rest."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    dropped: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, chunk: bytes) -> None:
        with self.lock:
            room = self.cap - len(self.data)
            if room > 0:
                self.data += chunk[:room]
            self.dropped += max(0, len(chunk) - max(room, 0))

    def take(self) -> tuple[str, int]:
        with self.lock:
            text = self.data.decode("utf-8", "replace")
            dropped = self.dropped
            self.data = bytearray()
            self.dropped = 0
            return text, dropped


class CappedWriter(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` replacement: Python-level prints go straight into the capped buffer."""

    def __init__(self, buffer: CappedBuffer) -> None:
        self._buffer = buffer

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self._buffer.cap - len(self._buffer.data)
        if room > 0:
            self._buffer.add(text[:room].encode("utf-8", "replace"))
        if len(text) > max(room, 0):
            with self._buffer.lock:
                self._buffer.dropped += len(text) - max(room, 0)
        return len(text)

    def isatty(self) -> bool:
        return False


def drop_privileges(uid: int | None, gid: int | None) -> None:
    if os.getuid() != 0 or uid is None:
        return
    os.setgroups([])
    os.setgid(gid if gid is not None else uid)
    os.setuid(uid)
    if os.getuid() == 0 or os.geteuid() == 0:
        raise SystemExit("runner: failed to drop root")


def set_limits(cfg: dict[str, Any]) -> None:
    def lim(which: int, value: int | None) -> None:
        if value is not None:
            resource.setrlimit(which, (value, value))

    lim(resource.RLIMIT_CORE, 0)
    lim(resource.RLIMIT_AS, cfg.get("memory_bytes"))
    lim(resource.RLIMIT_NPROC, cfg.get("max_processes"))
    lim(resource.RLIMIT_FSIZE, cfg.get("max_file_bytes"))
    lim(resource.RLIMIT_NOFILE, cfg.get("max_open_files"))
    cpu = cfg.get("cpu_seconds")
    if cpu is not None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))


def read_exact(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def write_frame(fd: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode("utf-8")
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def drain(fd: int, buffer: CappedBuffer) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return
        if not chunk:
            return
        buffer.add(chunk)


def pending(fd: int) -> int:
    raw = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", raw)[0])


def run_code(code: str, namespace: dict[str, Any], filename: str) -> str | None:
    """Exec ``code``; if its last statement is an expression, return the repr of its value."""
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    tree = ast.parse(code, filename, "exec")
    last: ast.expr | None = None
    tail = tree.body[-1] if tree.body else None
    if isinstance(tail, ast.Expr):
        tree.body.pop()
        last = tail.value
    exec(compile(tree, filename, "exec"), namespace)
    if last is None:
        return None
    value = eval(compile(ast.Expression(last), filename, "eval"), namespace)
    return None if value is None else repr(value)


def format_error(exc: BaseException) -> str:
    """The traceback from the first frame of the user's code on (the runner's own frames are noise)."""
    tb = exc.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell"):
        tb = tb.tb_next
    if isinstance(exc, SyntaxError) or tb is None:
        return "".join(traceback.format_exception_only(exc))
    return "".join(traceback.format_exception(type(exc), exc, tb))


class Runner:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.pid = os.getpid()
        self.cap = int(cfg.get("output_bytes", 65536))
        self.out = CappedBuffer(self.cap)
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
        self.cells = 0
        self.proto_in = os.dup(0)
        self.proto_out = os.dup(1)
        read_end, write_end = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        os.close(write_end)
        self.pipe_read = read_end
        threading.Thread(target=drain, args=(read_end, self.out), daemon=True).start()
        self.writer = CappedWriter(self.out)
        self._reset_streams()
        os.register_at_fork(after_in_child=self._in_child)

    def _reset_streams(self) -> None:
        sys.stdin = io.TextIOWrapper(io.BytesIO())
        sys.stdout = self.writer
        sys.stderr = self.writer

    def _in_child(self) -> None:
        # A forked child must never speak the protocol: only the interpreter process answers.
        for fd in (self.proto_in, self.proto_out):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _end_strays(self) -> None:
        """Processes a cell started do not outlive it; zombies are reaped so they stop counting."""
        if self.cfg.get("own_pid_namespace"):
            # kill(-1) reaches only this pid namespace (never pid 1 nor the caller): safe here, fatal outside
            with contextlib.suppress(OSError):
                os.kill(-1, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid == 0:
                    if not self.cfg.get("own_pid_namespace"):
                        break
                    time.sleep(0.005)

    def _collect(self) -> tuple[str, int]:
        deadline = time.monotonic() + 0.5
        with contextlib.suppress(OSError):
            while pending(self.pipe_read) and time.monotonic() < deadline:
                time.sleep(0.005)
        return self.out.take()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        cpu_call = request.get("cpu_seconds")
        if cpu_call is not None:
            used = resource.getrusage(resource.RUSAGE_SELF)
            soft = int(used.ru_utime + used.ru_stime) + max(1, int(cpu_call))
            hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
            if hard != resource.RLIM_INFINITY:
                soft = min(soft, hard)
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        value: str | None = None
        error: str | None = None
        self._reset_streams()  # a previous cell may have replaced them
        try:
            self.cells += 1
            value = run_code(str(request.get("code", "")), self.namespace, f"<cell-{self.cells}>")
        except BaseException as exc:  # the cell's own failure is the observation
            if os.getpid() != self.pid:
                os._exit(1)
            if isinstance(exc, SystemExit):
                error = f"SystemExit: {exc.code!r} (the interpreter keeps running)"
            else:
                error = format_error(exc)
        if os.getpid() != self.pid:  # a forked child that fell off the end of the cell
            os._exit(0)
        self._end_strays()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        output, dropped = self._collect()
        if value is not None and len(value) > self.cap:
            dropped += len(value) - self.cap
            value = value[: self.cap]
        if error is not None and len(error) > self.cap:
            error = error[: self.cap // 2] + "\n...\n" + error[-self.cap // 2 :]
        return {"ok": error is None, "output": output, "value": value, "error": error, "truncated": dropped}

    def serve(self) -> None:
        write_frame(self.proto_out, {"ready": True, "pid": self.pid, "uid": os.getuid()})
        while True:
            header = read_exact(self.proto_in, HEADER.size)
            if header is None:
                return
            (size,) = HEADER.unpack(header)
            if size > MAX_REQUEST:
                return
            body = read_exact(self.proto_in, size)
            if body is None:
                return
            write_frame(self.proto_out, self.handle(json.loads(body)))


def main(argv: list[str]) -> int:
    cfg: dict[str, Any] = json.loads(argv[1]) if len(argv) > 1 else {}
    drop_privileges(cfg.get("uid"), cfg.get("gid"))
    set_limits(cfg)
    workdir = cfg.get("workdir")
    if workdir:
        os.chdir(workdir)
    Runner(cfg).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

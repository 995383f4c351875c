"""Sessions by id: created on first use, one call at a time each, reaped when idle."""

from __future__ import annotations

import threading
import time
from types import TracebackType

from toolproxy.agent.sandbox.backends import SandboxBackend
from toolproxy.agent.sandbox.limits import Limits
from toolproxy.agent.sandbox.session import Observation, SandboxSession


class SessionManager:
    def __init__(
        self,
        backend: SandboxBackend,
        limits: Limits | None = None,
        *,
        idle_timeout_s: float = 600.0,
        max_sessions: int = 16,
    ) -> None:
        self.backend = backend
        self.limits = limits or Limits()
        self.idle_timeout_s = idle_timeout_s
        self.max_sessions = max_sessions
        self._sessions: dict[str, SandboxSession] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None

    def session(self, session_id: str) -> SandboxSession:
        with self._lock:
            found = self._sessions.get(session_id)
            if found is None:
                if len(self._sessions) >= self.max_sessions:
                    oldest = min(self._sessions.values(), key=lambda s: s.last_used)
                    self._sessions.pop(oldest.session_id).close()
                found = SandboxSession(self.backend, self.limits, session_id)
                self._sessions[session_id] = found
            found.last_used = time.monotonic()
            return found

    def run(self, session_id: str, code: str, timeout_s: float | None = None) -> Observation:
        session = self.session(session_id)
        with session.lock:
            return session.run(code, timeout_s)

    def close(self, session_id: str) -> bool:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None:
            return False
        with session.lock:
            session.close()
        return True

    @property
    def session_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._sessions)

    def reap_idle(self, now: float | None = None) -> list[str]:
        """Close every session unused for ``idle_timeout_s`` (busy ones are skipped); return their ids."""
        now = time.monotonic() if now is None else now
        with self._lock:
            idle = [s for s in self._sessions.values() if now - s.last_used >= self.idle_timeout_s]
        reaped: list[str] = []
        for session in idle:
            if not session.lock.acquire(blocking=False):
                continue
            try:
                with self._lock:
                    if self._sessions.get(session.session_id) is not session:
                        continue
                    if time.monotonic() - session.last_used < self.idle_timeout_s and now is None:
                        continue
                    del self._sessions[session.session_id]
                session.close()
                reaped.append(session.session_id)
            finally:
                session.lock.release()
        return reaped

    def start_reaper(self, interval_s: float | None = None) -> None:
        """A daemon thread that reaps idle sessions every ``interval_s`` (default: a quarter of the timeout)."""
        if self._reaper is not None:
            return
        interval = interval_s if interval_s is not None else max(0.05, self.idle_timeout_s / 4)

        def loop() -> None:
            while not self._stop.wait(interval):
                self.reap_idle()

        self._reaper = threading.Thread(target=loop, name="sandbox-reaper", daemon=True)
        self._reaper.start()

    def close_all(self) -> None:
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(timeout=5)
            self._reaper = None
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            with session.lock:
                session.close()

    def __enter__(self) -> SessionManager:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close_all()

"""Namespace sandbox without bubblewrap: run as pid 1 of fresh pid/net/mount namespaces made by ``unshare``.

Standard library only (ctypes for mount(2)/prctl(2)). Given the plan (JSON, argv[1]) it builds an empty
tmpfs root with the system directories and the Python installation bound read-only, a private /tmp, a
minimal /dev, a fresh /proc and the session's work dir bound read-write; chroots into it; then forks the
runner, stripped of every capability (real root: the runner drops to its per-session uid; inside a user
namespace: securebits NOROOT + empty bounding set + no_new_privs, so exec grants nothing), and stays as a
tiny init that reaps orphans and exits with the runner's status. ``--probe`` stops after the chroot.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS = 24, 28, 38
# SECBIT_NOROOT | _LOCKED | SECBIT_NO_SETUID_FIXUP | _LOCKED | SECBIT_KEEP_CAPS_LOCKED
SECUREBITS = 0x01 | 0x02 | 0x04 | 0x08 | 0x20
ROOT_CANDIDATES = ("/mnt", "/media", "/srv", "/run", "/var/tmp", "/opt")
DEVICES = ("null", "zero", "full", "random", "urandom")

LIBC = ctypes.CDLL(None, use_errno=True)


def fail(what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    if LIBC.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]) != 0:
        fail(f"mount {source} -> {target}")


def bind(source: str, target: str, *, readonly: bool, device: bool = False) -> None:
    mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (0 if device else MS_NODEV) | (MS_RDONLY if readonly else 0)
    mount(None, target, None, flags)


def prctl(option: int, arg: int) -> int:
    return int(LIBC.prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)))


def in_user_namespace() -> bool:
    with open("/proc/self/uid_map") as handle:
        return handle.read().split() != ["0", "0", "4294967295"]


def pick_root(avoid: list[str]) -> str:
    for path in ROOT_CANDIDATES:
        usable = os.path.isdir(path) and not os.path.islink(path)
        if usable and not any(a == path or a.startswith(path + "/") for a in avoid):
            return path
    raise OSError("no directory to mount the sandbox root on")


def build_root(plan: dict[str, Any]) -> str:
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = pick_root([plan["workdir"], *plan["python"], plan["runner"]])
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for path, target in plan["system"]:
        if target is not None:
            os.symlink(target, root + path)
        else:
            os.makedirs(root + path, 0o755, exist_ok=True)
            bind(path, root + path, readonly=True)
    # the private /tmp before the Python binds, so a Python installation under /tmp is not hidden by it
    os.makedirs(root + "/tmp", 0o755)
    mount("tmpfs", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for path in plan["python"]:
        os.makedirs(root + path, 0o755, exist_ok=True)
        bind(path, root + path, readonly=True)
    os.makedirs(root + "/proc", 0o755)
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(root + "/dev", 0o755)
    mount("tmpfs", root + "/dev", "tmpfs", MS_NOSUID, "mode=0755")
    for name in DEVICES:
        open(root + "/dev/" + name, "w").close()
        bind("/dev/" + name, root + "/dev/" + name, readonly=False, device=True)
    os.symlink("/proc/self/fd", root + "/dev/fd")
    os.makedirs(root + plan["inside_work"], 0o755)
    bind(plan["workdir"], root + plan["inside_work"], readonly=False)
    os.makedirs(os.path.dirname(root + plan["inside_runner"]), 0o755, exist_ok=True)
    open(root + plan["inside_runner"], "w").close()
    bind(plan["runner"], root + plan["inside_runner"], readonly=True)
    mount(None, root, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return root


def strip_capabilities() -> None:
    if prctl(PR_SET_SECUREBITS, SECUREBITS) != 0:
        fail("prctl(PR_SET_SECUREBITS)")
    for cap in range(64):
        if prctl(PR_CAPBSET_DROP, cap) != 0 and ctypes.get_errno() != 22:  # EINVAL: no such capability
            fail("prctl(PR_CAPBSET_DROP)")
    if prctl(PR_SET_NO_NEW_PRIVS, 1) != 0:
        fail("prctl(PR_SET_NO_NEW_PRIVS)")


def supervise(child: int) -> int:
    """Be pid 1: reap every orphan; when the runner ends, end too (which kills the whole namespace)."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        if pid == child:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def main(argv: list[str]) -> int:
    plan: dict[str, Any] = json.loads(argv[1])
    userns = in_user_namespace()
    root = build_root(plan)
    os.chroot(root)
    os.chdir(plan["inside_work"])
    if "--probe" in argv:
        return 0
    child = os.fork()
    if child == 0:
        try:
            if userns:
                strip_capabilities()
            cfg = plan["runner_config"]
            os.execve(plan["python_exe"], [plan["python_exe"], "-I", plan["inside_runner"], json.dumps(cfg)],
                      plan["env"])
        finally:
            os._exit(127)
    for fd in (0, 1):  # only the runner holds the protocol pipes
        os.close(fd)
    return supervise(child)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

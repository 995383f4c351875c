#!/usr/bin/env python3
"""Check a built toolproxy image from outside its container (stdlib only; run by docker/docker-test.sh).

Every container runs with ``--network host`` and listens on 127.0.0.1 only (TOOLPROXY_HOST); all requests go to
127.0.0.1. Checks, in order:

1. the image's configuration: a non-root user, a HEALTHCHECK, an exec-form entrypoint;
2. the bundled model, with ``TOOLPROXY_API_KEYS`` set: ``/health``, the README's curl example answered with a
   tool call, 401 without / with a wrong key and 200 with the key, uid != 0 inside, Docker's health status
   ``healthy``, and ``docker stop``: exit code 0 within 10 s;
3. ``--model`` on a GGUF mounted read-only at /models: ``/v1/models`` names it, a tool call is answered, and it
   stops cleanly too.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = "/opt/models/gemma-3-270m-q4_k_m.gguf"
STOP_LIMIT_S = 10.0


class CheckFailed(Exception):
    pass


def log(msg: str) -> None:
    print(f"check_image: {msg}", flush=True)


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise CheckFailed(f"docker {' '.join(args[:3])} ...: rc {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return proc.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def request(port: int, method: str, path: str, body: object = None, key: str | None = None,
            timeout: float = 300) -> tuple[int, object]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        payload: object = json.loads(raw)
    except ValueError:
        payload = raw.decode(errors="replace")
    return resp.status, payload


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise CheckFailed(what)
    log(f"ok: {what}")


def readme_example() -> tuple[str, dict]:
    """The README's curl tool-call example: its request path and JSON body, exactly as printed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S):
        url = re.search(r"curl [^\n]*?http://127\.0\.0\.1:8080(/v1/chat/completions)", block)
        data = re.search(r"-d '(.*?)'", block, flags=re.S)
        if url and data:
            return url.group(1), json.loads(data.group(1))
    raise CheckFailed("README.md has no `curl http://127.0.0.1:8080/v1/chat/completions -d '...'` example")


def wait_health(port: int, cid: str, limit_s: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if docker("inspect", "-f", "{{.State.Running}}", cid) != "true":
            raise CheckFailed("the container exited while starting")
        try:
            status, _ = request(port, "GET", "/health", timeout=5)
            if status == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.25)
    raise CheckFailed(f"/health not 200 within {limit_s:.0f} s")


def tool_call(payload: object, name: str) -> dict:
    try:
        call = payload["choices"][0]["message"]["tool_calls"][0]  # type: ignore[index]
        args = json.loads(call["function"]["arguments"])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise CheckFailed(f"no tool call in the answer ({exc!r}): {str(payload)[:400]}") from exc
    expect(call["function"]["name"] == name and isinstance(args, dict),
           f"tool call answered: {call['function']['name']}({call['function']['arguments']})")
    return args


def stop_cleanly(cid: str) -> float:
    t0 = time.monotonic()
    docker("stop", "-t", str(int(STOP_LIMIT_S)), cid, timeout=60)
    took = time.monotonic() - t0
    code = docker("inspect", "-f", "{{.State.ExitCode}}", cid)
    expect(code == "0" and took < STOP_LIMIT_S, f"docker stop: exit code {code} after {took:.1f} s (limit 10 s)")
    proc = subprocess.run(["docker", "logs", cid], capture_output=True, text=True)
    logs = proc.stdout + proc.stderr
    expect("Application shutdown complete" in logs, "graceful shutdown: uvicorn logged 'Application shutdown complete'")
    return took


def run_container(image: str, port: int, env: dict[str, str], extra: list[str], args: list[str]) -> str:
    cmd = ["run", "-d", "--network", "host", "-e", "TOOLPROXY_HOST=127.0.0.1", "-e", f"TOOLPROXY_PORT={port}"]
    for key, value in env.items():
        cmd += ["-e", f"{key}={value}"]
    return docker(*cmd, *extra, image, *args)


def check_config(image: str) -> None:
    config = json.loads(docker("image", "inspect", "-f", "{{json .Config}}", image))
    user = config.get("User") or ""
    expect(user not in ("", "root", "0") and not user.startswith("0:"), f"image user is not root ({user!r})")
    health = (config.get("Healthcheck") or {}).get("Test") or []
    expect(any("/health" in part for part in health), "HEALTHCHECK probes /health")
    entry = config.get("Entrypoint") or []
    expect(isinstance(entry, list) and len(entry) > 1 and "tini" in entry[0] and "serve" in entry,
           f"exec-form entrypoint under tini: {entry}")


def check_bundled(image: str, containers: list[str]) -> None:
    port, key = free_port(), "docker-test-key"
    started = time.monotonic()
    cid = run_container(image, port, {"TOOLPROXY_API_KEYS": key}, [], [])
    containers.append(cid)
    log(f"bundled model: container {cid[:12]} on 127.0.0.1:{port}")
    took = wait_health(port, cid, 300)
    expect(True, f"/health 200 after {took:.1f} s")
    path, body = readme_example()
    status, payload = request(port, "POST", path, body, key=key)
    first_answer = time.monotonic() - started
    expect(status == 200, f"README curl example with the key: HTTP {status}")
    args = tool_call(payload, body["tools"][0]["function"]["name"])
    expect("city" in args, f"arguments follow the schema: {args}")
    log(f"first answer {first_answer:.1f} s after `docker run`")
    status, _ = request(port, "POST", path, body)
    expect(status == 401, f"no key: HTTP {status}")
    status, _ = request(port, "GET", "/v1/models", key="wrong-key")
    expect(status == 401, f"wrong key: HTTP {status}")
    status, models = request(port, "GET", "/v1/models", key=key)
    expect(status == 200, f"/v1/models with the key: HTTP {status} {models}")
    uid = docker("exec", cid, "id", "-u")
    expect(uid != "0", f"uid inside the container: {uid}")
    t0 = time.monotonic()
    health = ""
    while time.monotonic() - t0 < 60:
        health = docker("inspect", "-f", "{{.State.Health.Status}}", cid)
        if health != "starting":
            break
        time.sleep(1)
    expect(health == "healthy", f"Docker HEALTHCHECK status: {health}")
    stop_cleanly(cid)


def check_mounted(image: str, containers: list[str]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="toolproxy-models-"))
    try:
        holder = docker("create", image)
        containers.append(holder)
        docker("cp", f"{holder}:{BUNDLED}", str(folder / "mounted-gemma.gguf"), timeout=300)
        folder.chmod(0o755)
        (folder / "mounted-gemma.gguf").chmod(0o644)
        port = free_port()
        cid = run_container(image, port, {}, ["-v", f"{folder}:/models:ro"], ["--model", "/models/mounted-gemma.gguf"])
        containers.append(cid)
        log(f"mounted model: container {cid[:12]} on 127.0.0.1:{port}, --model /models/mounted-gemma.gguf")
        took = wait_health(port, cid, 300)
        expect(True, f"/health 200 after {took:.1f} s")
        status, models = request(port, "GET", "/v1/models")
        ids = [m.get("id") for m in models.get("data", [])] if isinstance(models, dict) else []
        expect(status == 200 and ids == ["mounted-gemma"], f"/v1/models serves the mounted GGUF: {ids}")
        path, body = readme_example()
        status, payload = request(port, "POST", path, body)
        expect(status == 200, f"README curl example, no key set: HTTP {status}")
        tool_call(payload, body["tools"][0]["function"]["name"])
        stop_cleanly(cid)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True)
    opts = parser.parse_args()
    containers: list[str] = []
    try:
        check_config(opts.image)
        check_bundled(opts.image, containers)
        check_mounted(opts.image, containers)
    except (CheckFailed, subprocess.TimeoutExpired, OSError) as exc:
        log(f"FAIL: {exc}")
        for cid in containers[-1:]:
            logs = subprocess.run(["docker", "logs", "--tail", "30", cid], capture_output=True, text=True)
            sys.stderr.write(logs.stdout + logs.stderr)
        return 1
    finally:
        for cid in containers:
            subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
    log("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

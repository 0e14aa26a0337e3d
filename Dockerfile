# bppool: one image for every role (node, pool service, member, runner); the command picks it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/bppool

COPY pyproject.toml constraints.txt README.md ./
COPY chain ./chain
COPY pool_protocol ./pool_protocol
COPY service_shell ./service_shell
COPY emitter ./emitter
COPY pool_dac ./pool_dac
COPY producer_client ./producer_client
COPY bppool ./bppool
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --uid 10001 --home-dir /data --create-home bppool

USER bppool
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8888 8900 9101
ENTRYPOINT ["bppool"]
CMD ["--help"]

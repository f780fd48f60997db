# LOCAL STAND-IN for prom/prometheus:v2.53.2, built by scripts/docker-env.sh
# only where no registry is reachable: Debian bookworm's Prometheus (2.42).
# Like the real image: the `prometheus` binary as entrypoint, its config in
# /etc/prometheus, data in /prometheus, run as nobody, port 9090.
ARG BASE=chat-standin/debian:bookworm
FROM ${BASE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus && chown nobody:nogroup /prometheus \
    && ln -s /usr/bin/prometheus /bin/prometheus 2>/dev/null || true
USER nobody
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]

# LOCAL STAND-IN for redis:7-alpine, built by scripts/docker-env.sh only where
# no registry is reachable: Debian bookworm's Redis 7. Like the real image it
# accepts connections from other containers (no protected mode) and runs
# `redis-server` unless told otherwise.
ARG BASE=chat-standin/debian:bookworm
FROM ${BASE}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["sh", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]

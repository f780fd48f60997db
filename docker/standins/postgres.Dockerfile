# LOCAL STAND-IN for postgres:17, built by scripts/docker-env.sh only where no
# registry is reachable: PostgreSQL 17 from Debian trixie on the bookworm root
# filesystem, with the real image's interface: POSTGRES_USER,
# POSTGRES_PASSWORD and POSTGRES_DB create the role and database on first
# start, data in /var/lib/postgresql/data, pg_isready on PATH.
ARG BASE=chat-standin/debian:bookworm
FROM ${BASE}
ARG MIRROR=http://deb.debian.org/debian
RUN echo "deb ${MIRROR} trixie main" >/etc/apt/sources.list.d/trixie.list \
    && echo 'APT::Default-Release "bookworm";' >/etc/apt/apt.conf.d/90default-release \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       -t trixie postgresql-17 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
ENV PATH=/usr/lib/postgresql/17/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["sh", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]

# LOCAL STAND-IN for python:3.11-slim-bookworm, built by scripts/docker-env.sh
# only where no registry is reachable: Debian bookworm's own Python 3.11 with
# `python` and `pip` on PATH as in the real image, pip installing system-wide.
ARG BASE=chat-standin/debian:bookworm
FROM ${BASE}
COPY host-ca/ /usr/local/share/standin/host-ca/
COPY trust-host.sh /usr/local/sbin/trust-host
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       ca-certificates python3 python3-pip python3-venv passwd \
    && sh /usr/local/sbin/trust-host \
    && rm -rf /var/lib/apt/lists/* \
    && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED \
    && ln -s /usr/bin/python3 /usr/local/bin/python \
    && ln -s /usr/bin/pip3 /usr/local/bin/pip
ENV LANG=C.UTF-8
CMD ["python3"]

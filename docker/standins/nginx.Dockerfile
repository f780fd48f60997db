# LOCAL STAND-IN for nginx:1.28-alpine, built by scripts/docker-env.sh only
# where no registry is reachable: nginx from Debian's development suite (sid),
# which is newer than 1.27.3, so that `server ... resolve` in nginx.conf works
# as with the real image. Config in /etc/nginx/nginx.conf, run in the
# foreground, graceful stop on SIGQUIT, as in the real image.
ARG BASE=chat-standin/debian:bookworm
FROM ${BASE}
ARG MIRROR=http://deb.debian.org/debian
RUN echo "deb [check-valid-until=no] ${MIRROR} sid main" >/etc/apt/sources.list.d/sid.list \
    && echo 'APT::Default-Release "bookworm";' >/etc/apt/apt.conf.d/90default-release \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       -t sid nginx \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
    && nginx -v
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
